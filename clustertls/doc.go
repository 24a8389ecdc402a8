// Package clustertls is the cluster's mutual TLS: the certificates that let nodes prove to each
// other that they belong, and the TLS configurations that demand them.
//
// The cluster has its own certificate authority. `engine tls init` (Init) makes it and one
// certificate per node; every node is given the CA certificate, its own certificate and its key
// (--tls-ca, --tls-cert, --tls-key). On the cluster port — Raft and every node-to-node call —
// both sides present their certificate and accept only one the cluster's CA signed, so a process
// without such a certificate is turned away during the handshake, before anything it sends is
// read.
//
// Node certificates name their node (the subject's common name) and carry one DNS name shared by
// every node (ServerName): peers dial each other by IP address and port, and what a node checks is
// that the other side holds a certificate of the cluster, not what its address is called.
//
// A node certificate is a leaf with both the client- and server-authentication usages; the
// cluster port refuses any other the CA verifies, its own certificate first, in the handshake.
// Fingerprint (SHA-256 of the certificate) is how the cluster names one certificate, to revoke
// it when its node is removed (package raftfsm).
//
// Material is read again on Reload (SIGHUP), so certificates can be rotated without a restart;
// connections already open keep the certificate they started with.
package clustertls
