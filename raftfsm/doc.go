// Package raftfsm owns the cluster's replicated, durable state: a hashicorp/raft node (TCP
// transport, raft-boltdb/v2 log and stable store, file snapshots under <data-dir>/raft), the FSM
// that holds the whole model and the node table, the versioned commands that change them, and the
// duties only the leader performs (failure detection, joins, removals).
//
// Store implements core's ModelStore: reads are local (every node applies the same log, so a
// follower may lag the leader by a few milliseconds); writes go through Raft on the leader. A
// write made on a follower is handed to the Forwarder, which carries the encoded command to the
// leader's HTTP address, where the receiving handler calls Store.ApplyForwarded. A node that
// cannot see a leader (cut off from the majority) fails writes with ErrNoLeader, of kind
// errkind.Unavailable. Barrier makes a follower's reads current: it logs a no-op through the
// leader and returns once this node applied it; CaughtUp is true once a barrier asked for after
// the node opened came back (barrier.go), the node's cue that its model is the cluster's.
//
// Protected settings never enter the log in clear: Store.Apply seals them (model.File.Seal, with
// Config.Secrets) on the node that accepts the write, before it is proposed or forwarded; the
// leader refuses a command sealed with a key other than its own before it reaches the log; and
// Open refuses a data directory whose snapshot or log holds values this node's key cannot open.
// Snapshots hold the model as the FSM does, sealed. ModelFor is the model as a caller of a given
// clearance may read it.
//
// Every model command is validated where it is applied, on every node: the model after it must
// pass model.Validate, else the command changes nothing and its writer gets the error. Two writes
// that are each valid but conflict (one deletes a driver while another adds a module of it) thus
// cannot both land, whichever node accepted them. It makes the validation rules part of the
// replicated state machine: every node must refuse exactly the commands the others refused, also
// when it replays the log after an upgrade. So a release may loosen a rule of model.Validate but
// never tighten one for entries already in logs; a stricter rule is enforced where writes are
// accepted (before they are proposed), or with a new command version, never in Apply for old
// commands.
//
// The node table (Nodes) lists every member with its addresses, its labels (engine serve
// --labels, which placement constraints select nodes by), whether it votes, whether the leader
// currently sees it up, and the membership epoch it last reported ready for. A node started with
// Config.NonVoter joins as a Raft non-voter: it replicates the log and hosts modules but never
// votes nor counts towards the quorum; a node that comes back with the other vote is promoted or
// demoted by its join, and a stale non-voter is removed without quorum arithmetic. The epoch (Epoch) grows every
// time the set of up nodes changes, so "every up node is ready for the current epoch" means the
// cluster has reconciled the latest membership.
//
// Joins are guarded on the leader, before the configuration changes: a certificate revoked by an
// operator's removal never joins again (revoke.go: the table records each node's certificate
// fingerprints, RemoveNode revokes them, the snapshot keeps the revoked list), and a join that
// would move a member the leader is in contact with to another address, or put another node on
// its address, is refused (ErrLiveMember, 409) — the real node would lose the log to whoever the
// join names. The fields this adds (Member.Cert, Node.Certs, the removal's revoke, the snapshot's
// revoked) are ones older nodes ignore, so a mixed cluster works, without revocation until every
// node is upgraded, and an old log replays unchanged. An operator's removal of a node that is up
// keeps its entry, marked Removing, until it has surely stopped its modules (removal.go); an older
// node reads that as the removal it knows and moves the modules at once.
//
// Timeouts are derived from one multiplier (Config.TimeoutScale, default 1) tuned for a LAN:
// heartbeat and election timeouts of 250 ms, so a dead leader is replaced in well under a second
// on loopback. Use 2-5 on a slow or busy network.
//
// Failure detection runs on the leader only. It follows Raft's own heartbeats through a
// raft.Observer (FailedHeartbeatObservation / ResumedHeartbeatObservation): a follower whose
// heartbeats have failed for Config.DownAfter since its last contact is marked down — at once when
// its cluster port refused a connection since then (the transport's dials report it: nothing
// listens, so the process is gone, which a timeout cannot tell from a frozen node); one that
// answers again (or that has produced no failure for a quiet period after a leader change) is
// marked up. A node that stays down for Config.RemoveAfter is removed from the Raft configuration,
// but only when the remaining live voters still form a majority of the smaller configuration. An
// operator's removal of a voter (RemoveNode) is refused by the same rule (removal.go keepsMajority).
//
// Raft's own log lines go to the node's logger, except that its repeated warnings and errors about
// one peer (a down node is retried several times a second until it is removed) are written once
// every 30 s with the count left out meanwhile (quietlog.go); the node-down line says the rest.
//
// A full disk: a failed log write makes a leader step down and a follower refuse the append, and
// both take the leader's entries again once there is room, without a restart. One case needs the
// log store's help (suffixLog, logstore.go): a node holding an old leader's last entries deletes
// them before it stores the new leader's, and a store that fails after the deletion would leave
// Raft's record of its last entry on a deleted one for good; the deletion is therefore held until
// the store, and a failed store leaves the old entries in place. A new term that cannot be saved
// still stops the process (hashicorp/raft panics, rightly: it must not act on a term it did not
// save); the service manager restarts it.
package raftfsm
