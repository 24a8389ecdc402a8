package core

import (
	"bytes"
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// saveSetting writes a driver's save of its module's setting name, within the module's bounds
// (checkSettingsRoom), and waits until this node's model shows it. A key the module's settings
// protect (model.SaveLevel: an OAuth refresh token, a rotated session key the admin gave as a
// protected setting) is saved at that level, sealed; kept in the plain settings it would be read
// by every role, and would not even reach the driver past the protected value.
func (c *Core) saveSetting(ctx context.Context, moduleID, name string, value []byte) error {
	m, _ := c.cfg.Store.Model()
	mod := m.Modules[moduleID]
	if mod == nil {
		return c.cfg.Store.SaveSetting(ctx, moduleID, name, value) // which refuses it as not found
	}
	level := m.SaveLevel(mod, name)
	if err := c.checkSettingsRoom(mod, name, level, value); err != nil {
		return err
	}
	if level != model.LevelNone {
		return c.saveProtected(ctx, m, mod, name, level, value)
	}
	if err := c.cfg.Store.SaveSetting(ctx, moduleID, name, value); err != nil {
		return err
	}
	c.waitSaved(ctx, moduleID, name, func(mod *model.Module) bool { return bytes.Equal(mod.Settings[name], value) })
	return nil
}

// saveProtected writes the save as a management write of the module (model.ProtectedSave),
// which the store seals with the secrets key before it is proposed, as it seals an admin's: the
// Raft log never holds the value in clear, and every engine version applies the write alike (a
// new command would diverge the nodes of a rolling upgrade). A node without the key refuses.
func (c *Core) saveProtected(ctx context.Context, m *model.Model, mod *model.Module, name string, level model.Level, value []byte) error {
	if c.cfg.Secrets == nil {
		return status.Errorf(codes.InvalidArgument,
			"setting %q of module %q is protected (%s) and this node has no secrets key (--secrets-key-file) to seal it; saving it in clear would publish it",
			name, mod.ID, level)
	}
	f, err := m.ProtectedSave(mod.ID, name, level, value)
	if err == nil {
		err = c.cfg.Store.Apply(ctx, f)
	}
	if errors.Is(err, errkind.BadRequest) {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err != nil {
		return err
	}
	// The value is sealed with a new nonce: any other stored value at its place is this save.
	before := mod.ProtectedAt(level)[name]
	c.waitSaved(ctx, mod.ID, name, func(mod *model.Module) bool {
		v, ok := mod.ProtectedAt(level)[name]
		return ok && !bytes.Equal(v, before)
	})
	return nil
}
