package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/atomicfile"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
)

// modelFileRecord is the data directory's note of what the --model file last left in the model:
// a digest of each of its entities as stored after the apply. An entity whose stored form no
// longer matches was changed since (through the API, engine apply, another node's file), and the
// file is about to replace that change; the operator is told rather than finding it gone.
const modelFileRecord = "model-file-applied.json"

// applyModelFile applies the --model file at start, warning first when it replaces entities
// changed since it was last applied, and records what it left.
func applyModelFile(ctx context.Context, store *raftfsm.Store, dataDir, path string, log hclog.Logger) error {
	f, err := model.LoadFile(path)
	if err != nil {
		return err
	}
	record := filepath.Join(dataDir, modelFileRecord)
	// Until the node has replayed its own log its model is an older one, which would look changed.
	if err := waitStore(ctx, store, 30*time.Second, func() bool { return store.CaughtUp() }); err != nil {
		return fmt.Errorf("model %s: replaying this node's log: %w", path, err)
	}
	before, version := store.Model()
	if ids := changedSince(readRecord(record, log), f, before); len(ids) > 0 {
		log.Warn(replacesMessage(path, ids))
	}
	if err := applyWhenLed(ctx, store, f, log); err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	// A follower forwards the write; its own copy of the model follows within milliseconds.
	var after *model.Model
	if err := waitStore(ctx, store, 5*time.Second, func() bool {
		m, v := store.Model()
		after = m
		return v != version
	}); err != nil {
		log.Debug("the applied model file is not in this node's model yet; its record is left as it was", "error", err)
		return nil
	}
	if err := writeRecord(record, digests(f, after)); err != nil {
		log.Warn("could not record what the model file applied; the next start cannot tell what changed since", "error", err)
	}
	return nil
}

// waitStore waits until done reports true, checking after every change of the store.
func waitStore(ctx context.Context, store *raftfsm.Store, within time.Duration, done func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	changed := store.Watch(ctx)
	for !done() {
		if _, ok := <-changed; !ok {
			return ctx.Err()
		}
	}
	return nil
}

// replacesMessage names how many entities the file replaces and up to ten of them.
func replacesMessage(path string, ids []string) string {
	shown := ids
	if len(shown) > 10 {
		shown = shown[:10]
	}
	list := strings.Join(shown, ", ")
	if len(ids) > len(shown) {
		list += fmt.Sprintf(" and %d more", len(ids)-len(shown))
	}
	noun := "entities"
	if len(ids) == 1 {
		noun = "entity"
	}
	return fmt.Sprintf("model file %s replaces %d %s changed since it was last applied (%s): edit the file or drop --model",
		path, len(ids), noun, list)
}

// changedSince lists, sorted, the ids of the file's entities whose stored form differs from the
// one recorded after the file's last apply. Entities the record does not know (new in the file,
// or no record yet) are not counted: nothing says they were changed.
func changedSince(record map[string]string, f *model.File, m *model.Model) []string {
	var ids []string
	for key, digest := range digests(f, m) {
		if was, ok := record[key]; ok && was != digest {
			_, id, _ := strings.Cut(key, "/")
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// digests maps each entity of the file, "kind/id", to the digest of its stored form in m ("" when
// m has none).
func digests(f *model.File, m *model.Model) map[string]string {
	out := map[string]string{}
	digestAll(out, "repository", f.Repositories, m.Repositories, func(e *model.Repository) string { return e.ID })
	digestAll(out, "driver", f.Drivers, m.Drivers, func(e *model.Driver) string { return e.ID })
	digestAll(out, "module", f.Modules, m.Modules, func(e *model.Module) string { return e.ID })
	digestAll(out, "system", f.Systems, m.Systems, func(e *model.System) string { return e.ID })
	digestAll(out, "zone", f.Zones, m.Zones, func(e *model.Zone) string { return e.ID })
	return out
}

// digestAll adds the file's entities of one kind to out.
func digestAll[T any](out map[string]string, kind string, inFile []*T, stored map[string]*T, id func(*T) string) {
	for _, e := range inFile {
		key := kind + "/" + id(e)
		out[key] = ""
		if v, ok := stored[id(e)]; ok {
			b, _ := json.Marshal(v)
			sum := sha256.Sum256(b)
			out[key] = hex.EncodeToString(sum[:16])
		}
	}
}

// readRecord reads the record; none (a first start) or an unreadable one is empty.
func readRecord(path string, log hclog.Logger) map[string]string {
	rec := map[string]string{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec
	}
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		log.Warn("the record of the model file's last apply is unreadable; changes since are not checked", "path", path, "error", err)
	}
	return rec
}

// writeRecord replaces the record whole (a crash leaves the old one or the new one).
func writeRecord(path string, rec map[string]string) error {
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}
