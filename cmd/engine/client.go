package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// clientFlags are the flags shared by the client subcommands.
func clientFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("engine "+name, flag.ContinueOnError)
	server := os.Getenv("ENGINE_SERVER")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	return fs, fs.String("server", server, "any node's client API: http(s)://host:port or host:port (env ENGINE_SERVER); an API key is sent from env ENGINE_API_KEY")
}

// serverURL reads --server as people type it: a URL, or host:port meaning http://host:port.
func serverURL(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--server %q: want a node's client API as http(s)://host:port or host:port", s)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/"), nil
}

// apply creates or updates the model objects of a file on a running cluster: one validated
// write, idempotent (upsert by id).
func apply(ctx context.Context, args []string) error {
	fs, server := clientFlags("apply")
	file := fs.String("f", "", "model file (YAML or JSON)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := serverURL(*server)
	if err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("apply needs -f FILE")
	}
	f, err := model.LoadFile(*file)
	if err != nil {
		return err
	}
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	var out struct {
		Version uint64 `json:"version"`
	}
	if err := call(ctx, http.MethodPut, base+"/api/engine/v2/model", body, &out); err != nil {
		return noEngineHint(base, err)
	}
	fmt.Printf("applied %d repositories, %d drivers, %d zones, %d systems, %d modules (model version %d)\n",
		len(f.Repositories), len(f.Drivers), len(f.Zones), len(f.Systems), len(f.Modules), out.Version)
	return nil
}

// status prints the cluster's nodes and the drivers and modules of the node asked.
func status(ctx context.Context, args []string) error {
	fs, server := clientFlags("status")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := serverURL(*server)
	if err != nil {
		return err
	}
	return printStatus(ctx, os.Stdout, base)
}

// clusterTable is what engine status reads of GET /cluster.
type clusterTable struct {
	Leader   string                `json:"leader"`
	Epoch    uint64                `json:"epoch"`
	Ready    bool                  `json:"ready"`
	Nodes    []clusterNode         `json:"nodes"`
	Unplaced []core.UnplacedModule `json:"unplaced"`
}

type clusterNode struct {
	ID       string           `json:"id"`
	HTTPAddr string           `json:"http_addr"`
	State    string           `json:"state"`
	Ready    bool             `json:"ready"`
	Leader   bool             `json:"leader"`
	Modules  int              `json:"modules"`
	Labels   placement.Labels `json:"labels"`
	Voter    *bool            `json:"voter"` // absent from older nodes: every node voted
}

// nodeStatus is what engine status reads of a node's GET /api/core/v1/status.
type nodeStatus struct {
	Node    string `json:"node"`
	Ready   bool   `json:"ready"`
	Drivers []struct {
		Driver          string `json:"driver"`
		State           string `json:"state"`
		PID             int    `json:"pid"`
		SparePID        int    `json:"spare_pid"`
		SpareError      string `json:"spare_error"`
		ModuleInstances int    `json:"module_instances"`
		RestartCount    int    `json:"restart_count"`
		LastError       string `json:"last_error"`
		FailedBuild     *struct {
			Commit string    `json:"commit"`
			Error  string    `json:"error"`
			At     time.Time `json:"at"`
		} `json:"failed_build"`
	} `json:"drivers"`
	Modules []struct {
		ID      string `json:"id"`
		Driver  string `json:"driver"`
		Running bool   `json:"running"`
		Error   string `json:"error"`
	} `json:"modules"`
}

// printStatus writes engine status's tables for the cluster base belongs to: nodes, driver
// processes, modules. A degraded cluster (a node down or silent, no leader, a module unplaced)
// is an errDegraded after the tables.
func printStatus(ctx context.Context, out io.Writer, base string) error {
	var cl clusterTable
	if err := call(ctx, http.MethodGet, base+"/api/engine/v2/cluster", nil, &cl); err != nil {
		return noEngineHint(base, err)
	}
	// Drivers and modules come from every node that is up, so the table is the same from any node.
	nodes, unreachable, problems := askNodes(ctx, base, cl.Nodes)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if cl.Leader == "" {
		problems = append(problems, "no leader")
	}
	printNodes(w, cl, nodes, unreachable)
	printDrivers(w, nodes)
	problems = append(problems, printModules(ctx, w, base, cl, nodes, unreachable)...)
	if err := w.Flush(); err != nil {
		return err
	}
	if len(problems) > 0 {
		// Scripts and monitors read the exit status: a degraded cluster is not a healthy one.
		return fmt.Errorf("%w: %s", errDegraded, strings.Join(problems, "; "))
	}
	return nil
}

// askNodes reads the status of every node the cluster lists up. It returns the answers, the
// error of each node that did not answer, and what makes the cluster degraded.
func askNodes(ctx context.Context, base string, all []clusterNode) (nodes []nodeStatus, unreachable map[string]error, problems []string) {
	// The other nodes are asked with --server's scheme: the API key goes with each request, and
	// an https cluster's key must not be sent to a node in clear (nor to its HTTPS port as http).
	scheme, _, _ := strings.Cut(base, "://")
	unreachable = map[string]error{}
	for _, n := range all {
		if n.State != "up" {
			problems = append(problems, n.ID+" is "+n.State)
			continue
		}
		var ns nodeStatus
		// A node that is gone answers at once (refused); a frozen one must not hold the table.
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := call(nctx, http.MethodGet, scheme+"://"+n.HTTPAddr+"/api/core/v1/status", nil, &ns)
		cancel()
		if err != nil {
			// The cluster still lists it up when no leader is left to mark it down.
			unreachable[n.ID] = err
			problems = append(problems, n.ID+" does not answer")
			continue
		}
		nodes = append(nodes, ns)
	}
	return nodes, unreachable, problems
}

// printNodes writes the cluster line and the table of nodes, and a line for each node that did
// not answer.
func printNodes(w io.Writer, cl clusterTable, nodes []nodeStatus, unreachable map[string]error) {
	leader := cl.Leader
	if leader == "" {
		// The node asked sees no leader: it is cut off from the majority, or the majority is down.
		leader = "none (no majority: model writes are refused and no module moves)"
	}
	fmt.Fprintf(w, "cluster: leader %s, epoch %d, ready %v\n\n", leader, cl.Epoch, cl.Ready)
	fmt.Fprintln(w, "NODE\tHTTP\tSTATE\tREADY\tLEADER\tVOTER\tLABELS\tMODULES")
	// READY is each node's own answer where it gave one: the cluster's table is the leader's, and
	// without a leader it stays as it was (a cut-off node that answers not ready read as ready).
	ready := map[string]string{}
	for _, ns := range nodes {
		ready[ns.Node] = strconv.FormatBool(ns.Ready)
	}
	for _, n := range cl.Nodes {
		state, nodeReady := n.State, strconv.FormatBool(n.Ready)
		if r, ok := ready[n.ID]; ok {
			nodeReady = r
		}
		if unreachable[n.ID] != nil {
			state, nodeReady = "unreachable", "?"
		}
		labels := n.Labels.String()
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%v\t%s\t%d\n", n.ID, n.HTTPAddr, state, nodeReady, n.Leader, n.Voter == nil || *n.Voter, labels, n.Modules)
	}
	for _, n := range cl.Nodes {
		if err := unreachable[n.ID]; err != nil {
			fmt.Fprintf(w, "\n%s: %v (its drivers are not listed; its modules are, as the model has them)\n", n.ID, err)
		}
	}
}

// printDrivers writes the table of the driver processes of the nodes that answered.
func printDrivers(w io.Writer, nodes []nodeStatus) {
	fmt.Fprintln(w, "\nNODE\tDRIVER\tSTATE\tPID\tSPARE\tMODULES\tRESTARTS\tLAST ERROR")
	for _, ns := range nodes {
		for _, d := range ns.Drivers {
			last := d.LastError
			if f := d.FailedBuild; f != nil {
				// The room still works, on the last good build; say what did not build.
				last = fmt.Sprintf("new build failed (commit %.7s, %s): %s; running the last good build",
					f.Commit, f.At.Local().Format(time.DateTime), firstLine(f.Error))
			}
			spare := "-"
			if d.SparePID != 0 {
				spare = strconv.Itoa(d.SparePID)
			}
			if d.SpareError != "" { // why there is no spare, after the process's own error
				last = strings.TrimPrefix(last+"; spare "+firstLine(d.SpareError), "; ")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", ns.Node, d.Driver, d.State, d.PID, spare, d.ModuleInstances, d.RestartCount, last)
		}
	}
}

// printModules writes the table of modules: those of the nodes that answered, the unplaced ones,
// and, from the model, the running ones of nodes that did not answer. It returns the unplaced
// modules as problems.
func printModules(ctx context.Context, w io.Writer, base string, cl clusterTable, nodes []nodeStatus, unreachable map[string]error) (problems []string) {
	type row struct{ id, owner, state, err string }
	var rows []row
	for _, ns := range nodes {
		for _, m := range ns.Modules {
			state := "running"
			if !m.Running {
				state = "stopped"
			}
			if m.Error != "" {
				state = "failed"
			}
			rows = append(rows, row{m.ID, ns.Node, state, m.Error})
		}
	}
	for _, u := range cl.Unplaced {
		rows = append(rows, row{u.ID, "-", "unplaced", u.Reason})
		problems = append(problems, fmt.Sprintf("module %s is unplaced (%s)", u.ID, u.Reason))
	}
	var silent []string // the nodes that did not answer, in the cluster's order
	for _, n := range cl.Nodes {
		if unreachable[n.ID] != nil {
			silent = append(silent, n.ID)
		}
	}
	if len(silent) > 0 {
		// The modules of a node that does not answer are still its: list them from the model, so
		// that the table shows every running module and whose it is.
		listed := map[string]bool{}
		for _, r := range rows {
			listed[r.id] = true
		}
		missing, err := runningModules(ctx, base)
		owner := strings.Join(silent, " or ") + " (unreachable)"
		if err != nil {
			fmt.Fprintf(w, "\nthe modules of %s are not listed: %v\n", owner, err)
		}
		for _, id := range missing {
			if !listed[id] {
				rows = append(rows, row{id, owner, "unknown", "its node does not answer"})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	fmt.Fprintln(w, "\nMODULE\tOWNER\tSTATE\tLAST ERROR")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.id, r.owner, r.state, firstLine(r.err))
	}
	return problems
}

// runningModules are the ids of the modules the model wants running.
func runningModules(ctx context.Context, base string) ([]string, error) {
	var f model.File
	if err := call(ctx, http.MethodGet, base+"/api/engine/v2/model", nil, &f); err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range f.Modules {
		if m.Running {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// call sends a request and decodes a JSON answer, turning an error body into a readable error.
func call(ctx context.Context, method, url string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key := os.Getenv("ENGINE_API_KEY"); key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if hungUp(err) {
			// What a cluster port does to a client: no answer at all.
			return fmt.Errorf("%w (is --server a node's client API, its --http-addr?)", err)
		}
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized && os.Getenv("ENGINE_API_KEY") == "" {
			hint = "; set ENGINE_API_KEY to an API key"
		}
		var e struct{ Error, Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s: %s (%s, HTTP %d)%s", url, e.Message, e.Error, resp.StatusCode, hint)
		}
		return fmt.Errorf("%s: HTTP %d: %s%s", url, resp.StatusCode, strings.TrimSpace(string(data)), hint)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// noEngineHint says what to do when nothing answers at --server at all (the port is closed, or
// the host has no address): most often no node was started, or --server was not given.
func noEngineHint(base string, err error) error {
	var dns *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns) && dns.IsNotFound {
		return fmt.Errorf("no engine answers at %s: start one (make run) or point at one with --server URL or ENGINE_SERVER (%w)", base, err)
	}
	return err
}

// firstLine keeps a table row on one line (build errors carry the compiler output).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// hungUp reports whether err is the server closing the connection without an answer. Which
// error net/http gives depends on which of its goroutines notices first: EOF, a reset or a
// broken pipe while the request is written, or its own "server closed idle connection" (not
// exported, so matched by its text).
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
