package sdk

import (
	"strconv"
	"strings"

	"github.com/placeos-go/engine/plugin/proto"
)

// Target names another module: by id, or by name and 1-based index in a system (the calling
// logic module's own system when SystemID is empty).
type Target struct {
	ModuleID string
	SystemID string
	Name     string
	Index    int
}

// In targets module name_index in the caller's own system: In("Display", 1) is Display_1.
func In(name string, index int) Target { return Target{Name: name, Index: index} }

// InSystem targets module name_index in another system.
func InSystem(systemID, name string, index int) Target {
	return Target{SystemID: systemID, Name: name, Index: index}
}

// ByID targets a module by its id.
func ByID(moduleID string) Target { return Target{ModuleID: moduleID} }

// Slug targets a module by a client slug in the caller's system: "Display_2" is Display index 2,
// "Display" (or a suffix that is not a number) is index 1 of the whole name.
func Slug(slug string) Target {
	if i := strings.LastIndexByte(slug, '_'); i > 0 {
		if n, err := strconv.Atoi(slug[i+1:]); err == nil && n > 0 {
			return In(slug[:i], n)
		}
	}
	return In(slug, 1)
}

// String is the target as a user would write it.
func (t Target) String() string {
	if t.ModuleID != "" {
		return t.ModuleID
	}
	idx := t.Index
	if idx == 0 {
		idx = 1
	}
	s := t.Name + "_" + strconv.Itoa(idx)
	if t.SystemID != "" {
		s = t.SystemID + "/" + s
	}
	return s
}

func (t Target) proto(defaultSystem string) *proto.Target {
	sys := t.SystemID
	if sys == "" && t.ModuleID == "" {
		sys = defaultSystem
	}
	return &proto.Target{ModuleId: t.ModuleID, SystemId: sys, Name: t.Name, Index: int32(t.Index)}
}
