package main

import (
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/supervisor"
)

// defaultDriverMemoryLimit bounds a driver that allocates without end well before it can starve
// the node, while leaving a normal driver (tens of MiB in use, ~100 MiB reserved) room.
const defaultDriverMemoryLimit = 512 << 20

// driverMemoryLimitFlag is --driver-memory-limit: a size (model.ParseMemoryLimit) or off.
type driverMemoryLimitFlag struct{ v int64 }

func (f *driverMemoryLimitFlag) String() string {
	if f.v == 0 {
		return "off"
	}
	return supervisor.FormatBytes(f.v)
}

func (f *driverMemoryLimitFlag) Set(s string) error {
	n, err := model.ParseMemoryLimit(s)
	if err != nil {
		return err
	}
	f.v = n
	return nil
}

// driverMemoryLimit is the limit of binary's processes: its driver's memory_limit if set, else
// the flag's.
func driverMemoryLimit(flag int64, driverLimit string, ok bool) int64 {
	if ok && driverLimit != "" {
		if n, err := model.ParseMemoryLimit(driverLimit); err == nil {
			return n
		}
	}
	return flag
}
