package supervisor

import (
	"bytes"
	"context"
	"fmt"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// MaxMetadata bounds a driver's metadata (its functions, their parameters and descriptions, its
// settings' schema: tens of KiB for a large driver). It is written to Redis once per module
// (interface/<module>), so a driver answering with megabytes would put that much into Redis for
// each of its modules; such a driver's modules do not start, and the reason says why.
const MaxMetadata = 1 << 20

// readMetadata asks p for its metadata, refusing more than MaxMetadata.
func readMetadata(ctx context.Context, p *process) ([]byte, error) {
	resp, err := p.rpc.Metadata(ctx, &pb.Empty{})
	if err != nil {
		return nil, err
	}
	if n := len(resp.Json); n > MaxMetadata {
		return nil, fmt.Errorf("%w: the driver's metadata is %d bytes, more than the %d the engine takes", ErrMetadataTooLarge, n, MaxMetadata)
	}
	return resp.Json, nil
}

// refreshMetadata reads the metadata of a process that has just started and, when it is a
// relaunch whose metadata differs from the previous process's (the binary was rebuilt at the
// same path), hands it to Config.OnMetadata: the functions a caller may call must be the ones
// this process has, without restarting the modules.
func (d *driver) refreshMetadata(p *process, launch int) {
	s := d.s
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
	defer cancel()
	cctx, ccancel := p.callCtx(ctx)
	meta, err := readMetadata(cctx, p)
	ccancel()
	if err != nil {
		if !p.hasExited() {
			d.log.Warn("reading the metadata of the driver's new process failed", "pid", p.pid, "error", err)
		}
		return
	}
	s.mu.Lock()
	prev := d.lastMeta
	d.metadata, d.metaGen, d.lastMeta = meta, p.gen, meta
	mods := d.moduleIDs()
	s.mu.Unlock()
	if launch > 1 && !bytes.Equal(prev, meta) && s.cfg.OnMetadata != nil {
		d.log.Info("driver metadata changed with the new process", "pid", p.pid, "modules", mods)
		s.cfg.OnMetadata(ctx, d.binary, mods, meta)
	}
}
