package supervisor

import (
	"bytes"
	"context"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// refreshMetadata reads the metadata of a process that has just started and, when it is a
// relaunch whose metadata differs from the previous process's (the binary was rebuilt at the
// same path), hands it to Config.OnMetadata: the functions a caller may call must be the ones
// this process has, without restarting the modules.
func (d *driver) refreshMetadata(p *process, launch int) {
	s := d.s
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
	defer cancel()
	cctx, ccancel := p.callCtx(ctx)
	resp, err := p.rpc.Metadata(cctx, &pb.Empty{})
	ccancel()
	if err != nil {
		if !p.hasExited() {
			d.log.Warn("reading the metadata of the driver's new process failed", "pid", p.pid, "error", err)
		}
		return
	}
	s.mu.Lock()
	prev := d.lastMeta
	d.metadata, d.metaGen, d.lastMeta = resp.Json, p.gen, resp.Json
	mods := d.moduleIDs()
	s.mu.Unlock()
	if launch > 1 && !bytes.Equal(prev, resp.Json) && s.cfg.OnMetadata != nil {
		d.log.Info("driver metadata changed with the new process", "pid", p.pid, "modules", mods)
		s.cfg.OnMetadata(ctx, d.binary, mods, resp.Json)
	}
}
