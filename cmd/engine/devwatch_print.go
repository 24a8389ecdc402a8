package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/model"
)

// printLoaded says what was loaded and how to call it.
func (w *devWatch) printLoaded(ctx context.Context, bin builder.Binary, name string, took time.Duration) {
	fn, args := sampleCall(ctx, bin.Path)
	var reach []string
	if w.mod.IP != "" {
		reach = append(reach, "ip "+w.mod.IP)
	}
	if w.mod.Port != 0 {
		reach = append(reach, fmt.Sprintf("port %d", w.mod.Port))
	}
	if w.mod.URI != "" {
		reach = append(reach, "uri "+w.mod.URI)
	}
	if w.mod.ControlSystemID != "" {
		reach = append(reach, "drives the modules of "+w.mod.ControlSystemID)
	}
	if w.mod.IP == "" && w.mod.URI == "" && w.drv.Role != model.RoleLogic {
		reach = []string{"no ip or uri to reach a device at: give them in the folder's " + devFile + " or with --watch-module FILE"}
	}
	if w.sim.running() {
		reach = append(reach, "its simulator "+simFolder+"/ plays the device")
	}
	w.printf(`
  driver:   %s (%s, role %s), binary %s built in %.1f s
  module:   %s in %s (%s; %s)
  execute:  curl -s -X POST %s/systems/%s/%s/%s -d '%s'
  statuses: curl -s %s/systems/%s/%s%s
  Every save of a .go file, go.mod or go.sum in the folder rebuilds it; the module moves to the
  new build with no gap, and a build that fails leaves the last good one serving.

`, w.drv.ID, w.dir, w.drv.Role, filepath.Base(bin.Path), took.Seconds(),
		name, watchSystem, w.mod.ID, strings.Join(reach, ", "),
		w.api, watchSystem, name, fn, args,
		w.api, watchSystem, name, w.keysNote)
}

func (w *devWatch) printf(format string, args ...any) { _, _ = fmt.Fprintf(w.out, format, args...) }

// describe names the saved files briefly: the first, relative to the folder, and how many more.
func (w *devWatch) describe(files []string) string {
	rel, err := filepath.Rel(w.dir, files[0])
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = files[0]
	}
	if len(files) > 1 {
		return fmt.Sprintf("%s (+%d)", rel, len(files)-1)
	}
	return rel
}

// sampleCall is a call of the driver for the curl line printed once the driver is loaded, from
// the binary's metadata (chooseCall).
func sampleCall(ctx context.Context, binary string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--metadata").Output()
	if err != nil {
		return "FUNCTION", "[]"
	}
	return chooseCall(out)
}

// chooseCall picks, predictably, a function of the driver's metadata and named arguments for it:
// power [true] when the driver is Powerable (it answers on a device just switched on, and is
// what a newcomer tries first), else the first function in declaration order whose parameters
// all have defaults, else the first; each parameter gets its default, else a value of its type.
// Adding functions after the chosen one does not change the choice.
func chooseCall(metadata []byte) (string, string) {
	var md struct {
		Functions  json.RawMessage `json:"functions"`
		Implements []string        `json:"implements"`
	}
	if json.Unmarshal(metadata, &md) != nil {
		return "FUNCTION", "[]"
	}
	names, params := orderedFunctions(md.Functions)
	if len(names) == 0 {
		return "FUNCTION", "[]"
	}
	if slices.Contains(md.Implements, "Powerable") && params["power"] != nil {
		return "power", "[true]"
	}
	fn := names[0]
	for _, n := range names {
		if optionalOnly(params[n]) {
			fn = n
			break
		}
	}
	if len(params[fn]) == 0 {
		return fn, "[]"
	}
	args := map[string]json.RawMessage{} // named: a parameter's position is not in the metadata
	for param, spec := range params[fn] {
		args[param] = sampleValue(spec)
	}
	js, _ := json.Marshal(args)
	return fn, string(js)
}

// optionalOnly: every parameter has a default ([type, default]), so the call needs no argument.
func optionalOnly(params map[string][]json.RawMessage) bool {
	for _, spec := range params {
		if len(spec) < 2 {
			return false
		}
	}
	return true
}

// orderedFunctions reads the metadata's functions object keeping its keys' order, which is the
// order the driver declares them in (a Go map would lose it).
func orderedFunctions(raw json.RawMessage) ([]string, map[string]map[string][]json.RawMessage) {
	params := map[string]map[string][]json.RawMessage{}
	if json.Unmarshal(raw, &params) != nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil
	}
	var names []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, nil
		}
		names = append(names, key.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil, nil
		}
	}
	return names, params
}

// sampleValue is a parameter's default ([type, default]) or a plain value of its type.
func sampleValue(spec []json.RawMessage) json.RawMessage {
	if len(spec) > 1 {
		return spec[1]
	}
	var typ string
	if len(spec) == 1 {
		_ = json.Unmarshal(spec[0], &typ)
	}
	switch {
	case typ == "bool":
		return json.RawMessage("true")
	case typ == "string":
		return json.RawMessage(`""`)
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"), strings.HasPrefix(typ, "float"):
		return json.RawMessage("0")
	}
	return json.RawMessage("null")
}

// compilerLines is what the terminal shows of a failed build: the compiler's first lines (its
// first complaints; the log has the whole output), or the error itself.
func compilerLines(err error) string {
	const show = 10
	var be *builder.BuildError
	if !errors.As(err, &be) {
		return err.Error()
	}
	lines := strings.Split(be.Output, "\n")
	if len(lines) > show {
		lines = append(lines[:show], fmt.Sprintf("... %d more lines in the log", len(lines)-show))
	}
	return strings.Join(lines, "\n")
}

func indentLines(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(pad + strings.TrimRight(line, "\n") + "\n")
	}
	return b.String()
}

// buildID is a build's short name in the terminal: the checksum part of its binary's name.
func buildID(binary string) string {
	base := filepath.Base(binary)
	if _, rest, ok := strings.Cut(base, "_dev-"); ok {
		id, _, _ := strings.Cut(rest, "_")
		return id
	}
	return base
}

// shortPath is p relative to the working directory when it is inside it (as the author would
// paste it), else p as it is.
func shortPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, ok := within(wd, p); ok {
		return rel
	}
	return p
}

// within is p relative to dir, when p is dir or inside it.
func within(dir, p string) (string, bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}
