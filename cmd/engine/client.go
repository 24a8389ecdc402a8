package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/placeos-go/engine/model"
)

// clientFlags are the flags shared by the client subcommands.
func clientFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("engine "+name, flag.ContinueOnError)
	server := os.Getenv("ENGINE_SERVER")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	return fs, fs.String("server", server, "any node's HTTP address (env ENGINE_SERVER)")
}

// apply creates or updates the model objects of a file on a running cluster: one validated
// write, idempotent (upsert by id).
func apply(ctx context.Context, args []string) error {
	fs, server := clientFlags("apply")
	file := fs.String("f", "", "model file (YAML or JSON)")
	if err := fs.Parse(args); err != nil {
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
	if err := call(ctx, http.MethodPut, *server+"/api/engine/v2/model", body, &out); err != nil {
		return err
	}
	fmt.Printf("applied %d repositories, %d drivers, %d zones, %d systems, %d modules (model version %d)\n",
		len(f.Repositories), len(f.Drivers), len(f.Zones), len(f.Systems), len(f.Modules), out.Version)
	return nil
}

// status prints the cluster's nodes and the drivers and modules of the node asked.
func status(ctx context.Context, args []string) error {
	fs, server := clientFlags("status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cl struct {
		Leader string `json:"leader"`
		Epoch  uint64 `json:"epoch"`
		Ready  bool   `json:"ready"`
		Nodes  []struct {
			ID       string `json:"id"`
			HTTPAddr string `json:"http_addr"`
			State    string `json:"state"`
			Ready    bool   `json:"ready"`
			Leader   bool   `json:"leader"`
			Modules  int    `json:"modules"`
		} `json:"nodes"`
	}
	if err := call(ctx, http.MethodGet, *server+"/api/engine/v2/cluster", nil, &cl); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "cluster: leader %s, epoch %d, ready %v\n\n", cl.Leader, cl.Epoch, cl.Ready)
	fmt.Fprintln(w, "NODE\tHTTP\tSTATE\tREADY\tLEADER\tMODULES")
	for _, n := range cl.Nodes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%v\t%d\n", n.ID, n.HTTPAddr, n.State, n.Ready, n.Leader, n.Modules)
	}
	var node struct {
		Node    string `json:"node"`
		Drivers []struct {
			Driver          string `json:"driver"`
			State           string `json:"state"`
			PID             int    `json:"pid"`
			ModuleInstances int    `json:"module_instances"`
			RestartCount    int    `json:"restart_count"`
			LastError       string `json:"last_error"`
		} `json:"drivers"`
		Modules []struct {
			ID, Driver, Error string
			Running           bool
		} `json:"modules"`
	}
	if err := call(ctx, http.MethodGet, *server+"/api/core/v1/status", nil, &node); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nnode %s drivers:\nDRIVER\tSTATE\tPID\tMODULES\tRESTARTS\tLAST ERROR\n", node.Node)
	for _, d := range node.Drivers {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", d.Driver, d.State, d.PID, d.ModuleInstances, d.RestartCount, d.LastError)
	}
	sort.Slice(node.Modules, func(i, j int) bool { return node.Modules[i].ID < node.Modules[j].ID })
	fmt.Fprintf(w, "\nnode %s modules:\nMODULE\tRUNNING\tERROR\n", node.Node)
	for _, m := range node.Modules {
		fmt.Fprintf(w, "%s\t%v\t%s\n", m.ID, m.Running, m.Error)
	}
	return w.Flush()
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
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s: %s (%s, HTTP %d)", url, e.Message, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
