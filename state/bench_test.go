package state

import (
	"context"
	"strconv"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// Benchmarks report ratios against a bare go-redis baseline measured in the same run
// (docs/architecture.md, performance): compare ns/op of the Store benchmark with its Baseline sibling.

func BenchmarkSetStatus(b *testing.B) {
	r := testutil.StartRedis(b)
	s, _ := newStore(b, r)
	ctx := context.Background()
	b.Run("changed", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.SetStatus(ctx, "mod-b", "level", []byte(strconv.Itoa(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.SetStatus(ctx, "mod-b", "level", []byte(`42`)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-pipelined-hset-publish", func(b *testing.B) {
		c := r.Client(b)
		for i := 0; b.Loop(); i++ {
			v := strconv.Itoa(i)
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, StatusKey("mod-raw"), "level", v)
				p.Publish(ctx, StatusChannel("mod-raw", "level"), v)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResolveAndMetadataCached(b *testing.B) {
	r := testutil.StartRedis(b)
	s, _ := newStore(b, r)
	ctx := context.Background()
	if err := s.SetLookup(ctx, "sys-b", map[string]string{"Display/1": "mod-b"}); err != nil {
		b.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-b", []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		id, err := s.ResolveModule(ctx, "sys-b", "Display", 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Metadata(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanout measures one PUBLISH reaching N in-process listeners.
func BenchmarkFanout(b *testing.B) {
	r := testutil.StartRedis(b)
	s, _ := newStore(b, r)
	pub := r.Client(b)
	ctx := context.Background()
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run("listeners="+strconv.Itoa(n), func(b *testing.B) {
			got := make(chan struct{}, n)
			channel := "bench-fan-" + strconv.Itoa(n)
			subs := make([]*Subscription, n)
			for i := range subs {
				subs[i] = s.Subscribe(channel, func([]byte) { got <- struct{}{} })
			}
			for _, sub := range subs {
				if err := sub.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if err := pub.Publish(ctx, channel, "x").Err(); err != nil {
					b.Fatal(err)
				}
				for range n {
					<-got
				}
			}
			for _, sub := range subs {
				sub.Cancel()
			}
		})
	}
	b.Run("baseline-raw-go-redis-1-listener", func(b *testing.B) {
		ps := r.Client(b).Subscribe(ctx, "bench-raw")
		defer func() { _ = ps.Close() }()
		if _, err := ps.Receive(ctx); err != nil {
			b.Fatal(err)
		}
		msgs := ps.Channel()
		for b.Loop() {
			if err := pub.Publish(ctx, "bench-raw", "x").Err(); err != nil {
				b.Fatal(err)
			}
			<-msgs
		}
	})
}
