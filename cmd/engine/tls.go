package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/placeos-go/engine/clustertls"
)

// tlsCommand is `engine tls init --out DIR --nodes n1,n2,n3`: the cluster's CA and a certificate
// per node, made here with crypto/x509. Run it again with more nodes to add them: the CA and the
// certificates already in DIR are kept.
func tlsCommand(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return fmt.Errorf("usage: engine tls init --out DIR --nodes n1,n2,n3")
	}
	fs := flag.NewFlagSet("engine tls init", flag.ContinueOnError)
	out := fs.String("out", "tls", "folder for ca.pem, ca-key.pem, <node>.pem and <node>-key.pem")
	nodes := fs.String("nodes", "", "comma-separated node ids (their --node-id)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var list []string
	for _, n := range strings.Split(*nodes, ",") {
		if n = strings.TrimSpace(n); n != "" {
			list = append(list, n)
		}
	}
	if len(list) == 0 {
		return fmt.Errorf("--nodes is required: the node ids to make certificates for, e.g. --nodes n1,n2,n3")
	}
	wrote, err := clustertls.Init(*out, list, time.Now())
	if err != nil {
		return err
	}
	written := map[string]bool{}
	for _, f := range wrote {
		fmt.Println("wrote", f)
		written[f] = true
	}
	var kept []string
	for _, n := range list {
		if !written[clustertls.CertFile(*out, n)] {
			kept = append(kept, n)
		}
	}
	if len(wrote) == 0 {
		fmt.Println("nothing to write: every node already has its certificate in", *out)
	}
	if len(kept) > 0 {
		// Init never overwrites a pair, so running it again for a removed node (whose certificate
		// every member refuses) would hand back the revoked pair unless the operator knows this.
		fmt.Printf("kept the pair already there for %s: to give a node a new certificate (a removed node's is revoked), delete its <node>.pem and <node>-key.pem first\n",
			strings.Join(kept, ", "))
	}
	fmt.Printf("\nStart each node with --tls-ca %s --tls-cert %s --tls-key %s (its own files);\n"+
		"keep %s off the nodes: it signs new certificates.\n",
		clustertls.CAFile(*out), clustertls.CertFile(*out, "<node>"), clustertls.KeyFile(*out, "<node>"), clustertls.CAKeyFile(*out))
	return nil
}

// httpsConfig is the client API's TLS, nil without --http-tls-cert.
func httpsConfig(k *clustertls.KeyPair) *tls.Config {
	if k == nil {
		return nil
	}
	return k.ServerConfig()
}
