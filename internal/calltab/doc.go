// Package calltab matches the answers of calls multiplexed on one connection to their callers.
// Each call gets an id and the channel its answer goes to; the connection's reader hands each
// answer to the channel of its id; a caller that gives up removes its id; when the connection
// ends, every call still waiting is handed back at once to be failed, and no call is added after.
//
// Two connections work this way: the node-to-node exec protocol (peer's exec link) and a driver
// process's Execs stream (plugin). Each keeps its own wire format and failure words; the table
// is what they share.
package calltab
