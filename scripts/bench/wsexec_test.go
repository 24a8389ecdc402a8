package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// The WebSocket exec benchmark (issue 13):
//
//	go test -run '^$' -bench '^BenchmarkWSExec$' -benchtime 1x ./scripts/bench/
//
// BenchmarkWSExec makes the REST benchmark's call, echo([1]) on the test driver, over one
// WebSocket session, one call at a time (send the exec frame, wait for its reply), three ways side
// by side in one run:
//
//   - direct: the driver's go-plugin gRPC Exec from the benchmark process, for reference;
//   - bare loop: a bare gorilla/websocket server (the upgrader's 4 KiB buffers, as the engine's)
//     whose one goroutine per session reads a frame, decodes it with encoding/json, makes the
//     Exec call and writes the reply, built by hand in the engine's bytes. It runs in the bare
//     proxy process of BenchmarkExecute (its own process and driver process; see there why);
//   - engine: the same frame to GET /api/engine/v2/systems/control on an `engine serve` process:
//     the session's reader, the exec path, the session's writer.
//
// WSBENCH_EXEC_ROUNDS rounds (5) each run the three WSBENCH_EXEC_CALLS calls (5000), in an order
// that rotates from round to round; figures are medians over the rounds, ratios medians of the
// per-round ratios. p99-ratio is the engine's p99 ÷ the bare loop's. Allocations per call are
// counted in both server processes as in BenchmarkExecute (allocs-own = engine − bare loop).
// Before measuring, one reply of each is compared: the table says whether the bare loop answers
// with the engine's bytes, i.e. whether the client does the same work for both.
func BenchmarkWSExec(b *testing.B) {
	runOnce(b, measureWSExec)
}

// wsExecFrame is the exec request the client sends, with its id in between.
const (
	wsExecFrameHead = `{"id":`
	wsExecFrameTail = `,"cmd":"exec","sys":"sys-bench","mod":"Test","index":1,"name":"echo","args":[1]}`
)

func measureWSExec(b *testing.B) (string, []clusterMetric) {
	calls := wsbEnvInt("WSBENCH_EXEC_CALLS", 5000)
	rounds := wsbEnvInt("WSBENCH_EXEC_ROUNDS", 5)
	redis := testutil.StartRedis(b)
	drv := testutil.BuildBinary(b, "./internal/testdriver")
	node := startEngine(b, redis.URL, drv)
	base := node.Base
	direct := startDirect(b, drv)
	httpClient := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(httpClient.CloseIdleConnections)
	bare := startBare(b, drv, engineAnswerHeader(b, httpClient, base+execPath))

	engine := dialWSExec(b, "ws"+strings.TrimPrefix(base, "http")+httpapi.ClientBase+"/systems/control")
	loop := dialWSExec(b, bare.ws)
	engineReply, err := engine.call()
	if err != nil {
		b.Fatal(err)
	}
	bareReply, err := loop.call()
	if err != nil {
		b.Fatal(err)
	}
	same := "yes"
	if engineReply != bareReply {
		same = fmt.Sprintf("no (engine %s, bare %s)", engineReply, bareReply)
		b.Logf("the bare loop's reply differs from the engine's: %s", same)
	}
	paths := [nPaths]func() error{
		pathDirect: func() error { return directEcho(context.Background(), direct) },
		pathBare:   func() error { _, err := loop.call(); return err },
		pathREST:   func() error { _, err := engine.call(); return err },
		pathUnary:  func() error { return unaryEcho(context.Background(), direct) },
	}
	names := [nPaths]string{"direct go-plugin gRPC", "bare gorilla/websocket loop → gRPC", "engine WebSocket exec",
		execPathNames[pathUnary]}
	for range 500 {
		for _, call := range paths {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	counters := [nPaths]*mallocCounter{pathBare: bare.mallocs, pathREST: engineMallocs(httpClient, base+"/metrics", node.PID())}
	for _, c := range counters {
		if c != nil {
			c.calibrate(b)
		}
	}
	runs := [nPaths][]execRun{}
	for r := range rounds {
		for k := range nPaths {
			p := (r + k) % nPaths
			runs[p] = append(runs[p], runPath(b, names[p], 1, calls, paths[p], counters[p], redis.PID()))
		}
	}

	direct0, bare0, eng := runs[pathDirect], runs[pathBare], runs[pathREST]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nOne session, one call at a time; %d rounds × %d calls per path, interleaved (the order rotates every round); medians over the rounds. The bare loop and the engine each in a process of their own, each calling its own process of the same driver binary. The bare loop answers with the engine's bytes: %s.\n\n", rounds, calls, same)
	fmt.Fprintf(&sb, "| path | calls/s | × direct | × bare loop | p50 | p50 over bare | p99 | p99 vs bare | allocations per call (server process) |\n|---|---|---|---|---|---|---|---|---|\n")
	for p := range nPaths {
		rs := runs[p]
		allocs := "—"
		if counters[p] != nil {
			allocs = fmt.Sprintf("%.1f", medianOf(rs, func(i int) float64 { return rs[i].server }))
		}
		fmt.Fprintf(&sb, "| %s | %.0f | %.2f× | %.2f× | %.0f µs | %+.0f µs | %.0f µs | %.2f× | %s |\n", names[p],
			medianOf(rs, func(i int) float64 { return rs[i].throughput }),
			medianOf(rs, func(i int) float64 { return rs[i].throughput / direct0[i].throughput }),
			medianOf(rs, func(i int) float64 { return rs[i].throughput / bare0[i].throughput }),
			medianOf(rs, func(i int) float64 { return float64(rs[i].p50) / 1e3 }),
			medianOf(rs, func(i int) float64 { return float64(rs[i].p50-bare0[i].p50) / 1e3 }),
			medianOf(rs, func(i int) float64 { return float64(rs[i].p99) / 1e3 }),
			medianOf(rs, func(i int) float64 { return float64(rs[i].p99) / float64(bare0[i].p99) }),
			allocs)
	}
	metrics := []clusterMetric{
		{medianOf(eng, func(i int) float64 { return float64(eng[i].p99) / float64(bare0[i].p99) }), "p99-ratio"},
		{medianOf(eng, func(i int) float64 { return eng[i].throughput / bare0[i].throughput }), "ratio-bare"},
		{medianOf(eng, func(i int) float64 { return eng[i].throughput / direct0[i].throughput }), "ratio-direct"},
		{medianOf(eng, func(i int) float64 { return float64(eng[i].p50-bare0[i].p50) / 1e3 }), "p50-over-bare-us"},
		{medianOf(eng, func(i int) float64 { return float64(eng[i].p99) / 1e3 }), "engine-p99-us"},
		{medianOf(bare0, func(i int) float64 { return float64(bare0[i].p99) / 1e3 }), "bare-p99-us"},
		{medianOf(eng, func(i int) float64 { return eng[i].server - bare0[i].server }), "allocs-own"},
	}
	fmt.Fprintf(&sb, "\nThe engine's own allocations per WebSocket exec (engine − bare loop, median of the per-round differences): %.1f.\n", metrics[len(metrics)-1].value)
	fmt.Fprintf(&sb, "\nTargets (issue 13, as for REST): WebSocket exec ≥ 0.95× the bare loop's calls/s: %s (%.2f×); p50 within 25 µs of it: %s (%+.0f µs). The p99 ratio (%.2f×) has no target of its own.\n",
		verdict(metrics[1].value >= 0.95), metrics[1].value, verdict(metrics[3].value <= 25), metrics[3].value, metrics[0].value)
	return sb.String(), metrics
}

// wsExecClient is one WebSocket session making exec calls one at a time.
type wsExecClient struct {
	conn  *websocket.Conn
	id    int64
	frame []byte
	want  []byte
	buf   bytes.Buffer
}

func dialWSExec(b *testing.B, url string) *wsExecClient {
	b.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		b.Fatalf("dial %s: %v", url, err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return &wsExecClient{conn: conn}
}

// call sends the next exec frame and reads until its reply, skipping other frames (heartbeats);
// it returns the reply when it is a success with the echoed value.
func (c *wsExecClient) call() (string, error) {
	c.id++
	c.frame = append(strconv.AppendInt(append(c.frame[:0], wsExecFrameHead...), c.id, 10), wsExecFrameTail...)
	c.want = append(strconv.AppendInt(append(c.want[:0], wsExecFrameHead...), c.id, 10), ',')
	if err := c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return "", err
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, c.frame); err != nil {
		return "", err
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return "", err
	}
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return "", err
		}
		c.buf.Reset()
		if _, err := c.buf.ReadFrom(r); err != nil {
			return "", err
		}
		msg := c.buf.Bytes()
		if !bytes.HasPrefix(msg, c.want) {
			continue
		}
		if !bytes.Contains(msg, []byte(`"type":"success"`)) || !bytes.Contains(msg, []byte(`"value":[1]`)) {
			return "", fmt.Errorf("exec %d: %s", c.id, msg)
		}
		return string(bytes.Replace(msg, c.want, []byte(`{"id":N,`), 1)), nil
	}
}

// bareWSExec is the bare loop's handler (see BenchmarkWSExec): per session one goroutine reads a
// frame, calls the driver, writes the reply, in the engine's bytes; a frame it cannot serve ends
// the session.
func bareWSExec(c *plugin.Client) http.Handler {
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var req struct {
			ID    int64           `json:"id"`
			Sys   string          `json:"sys"`
			Mod   string          `json:"mod"`
			Index int             `json:"index"`
			Name  string          `json:"name"`
			Args  json.RawMessage `json:"args"`
		}
		var out []byte
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			req.Args = nil
			if json.Unmarshal(msg, &req) != nil {
				return
			}
			resp, err := c.Exec(r.Context(), &proto.ExecRequest{ModuleId: "mod-bench", Function: req.Name, ArgsJson: req.Args})
			if err != nil {
				return
			}
			out = strconv.AppendInt(append(out[:0], `{"id":`...), req.ID, 10)
			out = strconv.AppendQuote(append(out, `,"type":"success","meta":{"sys":`...), req.Sys)
			out = strconv.AppendQuote(append(out, `,"mod":`...), req.Mod)
			out = strconv.AppendInt(append(out, `,"index":`...), int64(req.Index), 10)
			out = strconv.AppendQuote(append(out, `,"name":`...), req.Name)
			out = append(append(out, `},"value":`...), resp.ResultJson...)
			out = append(strconv.AppendInt(append(out, `,"code":`...), int64(resp.Code), 10), '}')
			if conn.WriteMessage(websocket.TextMessage, out) != nil {
				return
			}
		}
	})
}
