package builder

import (
	"context"
	"testing"
)

// BenchmarkFirstBinary is an empty data directory to a verified binary: clone, export, go build
// (the go build cache is the tool's own, as on a node that has built before).
func BenchmarkFirstBinary(b *testing.B) {
	src, head := newDriverRepo(b)
	repo := repoOf("bench", src)
	for b.Loop() {
		bl := newBuilder(b, b.TempDir(), nil)
		if _, err := bl.Build(context.Background(), repo, "drivers/display", head); err != nil {
			b.Fatal(err)
		}
		if err := bl.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstBinaryColdCache is the same with an empty go build cache too: a brand-new node.
// Slow (the SDK and its gRPC dependencies compile); run with -benchtime=1x.
func BenchmarkFirstBinaryColdCache(b *testing.B) {
	src, head := newDriverRepo(b)
	repo := repoOf("bench", src)
	for b.Loop() {
		bl := newBuilder(b, b.TempDir(), func(c *Config) { c.GOCACHE = b.TempDir() })
		if _, err := bl.Build(context.Background(), repo, "drivers/display", head); err != nil {
			b.Fatal(err)
		}
		if err := bl.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmBinary is a restart's path: the binary is on disk, so Build only checks its
// SHA-256.
func BenchmarkWarmBinary(b *testing.B) {
	src, head := newDriverRepo(b)
	repo := repoOf("bench", src)
	bl := newBuilder(b, b.TempDir(), nil)
	if _, err := bl.Build(context.Background(), repo, "drivers/display", head); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := bl.Build(context.Background(), repo, "drivers/display", head); err != nil {
			b.Fatal(err)
		}
	}
}
