package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// streamThreshold is the object size above which go-git streams an object from its pack
// rather than reading it whole: an export copies a large blob to disk without holding it.
const streamThreshold = 1 << 20

// objectCacheBytes bounds the decoded objects (trees, commits, small blobs) one open clone
// caches; go-git's default is 96 MiB per repository.
const objectCacheBytes = 8 * cache.MiByte

// boundedStorage is a clone's go-git storage whose received packs are checked against the
// builder's limits before go-git indexes them: go-git's indexer holds each object of a pack
// whole in memory (and more, while it grows its buffer), so a small pack of a huge compressed
// blob would otherwise take the engine's memory. Everything else is go-git's filesystem storage.
type boundedStorage struct {
	*filesystem.Storage
	maxObject, maxPack int64
	tmpDir             string // where a received pack waits for its check

	// Of the clone or fetch running (the repository's lock serialises them): refused is why the
	// pack was refused while it arrived, cancel ends the operation's context.
	refused error
	cancel  context.CancelFunc
}

// guard runs a clone or fetch: fn gets a context that ends when the pack arriving passes
// MaxPackBytes, and guard returns that refusal rather than the context's error. Ending the
// context is what stops the sender: go-git kills a local git-upload-pack only when a read
// fails, while a failed write leaves it blocked on its pipe and go-git waiting for it.
func (s *boundedStorage) guard(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.refused, s.cancel = nil, cancel
	err := fn(ctx)
	if s.refused != nil {
		return s.refused
	}
	return err
}

// cloneStorage is the storage of the bare clone in dir.
func (b *Builder) cloneStorage(dir string) *boundedStorage {
	return &boundedStorage{
		Storage: filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheBytes),
			filesystem.Options{LargeObjectThreshold: streamThreshold}),
		maxObject: b.cfg.MaxFileBytes,
		maxPack:   b.cfg.MaxPackBytes,
		tmpDir:    filepath.Join(b.buildsDir(), "tmp"),
	}
}

// openClone opens the bare clone in dir.
func (b *Builder) openClone(dir string) (*git.Repository, error) {
	return git.Open(b.cloneStorage(dir), nil)
}

// PackfileWriter receives a clone's or fetch's pack into a file of its own; Close checks it and
// only then hands it to go-git.
func (s *boundedStorage) PackfileWriter() (io.WriteCloser, error) {
	f, err := os.CreateTemp(s.tmpDir, "pack.tmp-")
	if err != nil {
		return nil, fmt.Errorf("receive pack: %w", err)
	}
	return &checkedPack{s: s, f: f}, nil
}

type checkedPack struct {
	s      *boundedStorage
	f      *os.File
	n      int64
	failed bool
}

// Write keeps the pack; once it fails (over MaxPackBytes, or the disk) it ends the operation's
// context and swallows the rest until go-git's next read sees the context end (see guard).
func (w *checkedPack) Write(p []byte) (int, error) {
	if w.failed {
		return len(p), nil
	}
	if w.n+int64(len(p)) > w.s.maxPack {
		w.fail(fmt.Errorf("%w: the pack is larger than MaxPackBytes (%d bytes)", ErrTooLarge, w.s.maxPack))
		return len(p), nil
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.fail(fmt.Errorf("receive pack: %w", err))
	}
	return len(p), nil
}

func (w *checkedPack) fail(err error) {
	w.failed = true
	w.s.refused = err
	if w.s.cancel != nil {
		w.s.cancel()
	}
}

// Close checks the received pack and gives it to go-git's own writer, which indexes it into the
// clone. A failed or empty transfer only removes the file.
func (w *checkedPack) Close() (err error) {
	defer func() {
		err = errors.Join(err, w.f.Close(), os.Remove(w.f.Name()))
	}()
	if w.failed {
		return w.s.refused
	}
	if w.n == 0 {
		return nil
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := checkPack(w.f, w.s.maxObject, w.s.maxPack); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	inner, err := w.s.Storage.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := io.Copy(inner, w.f); err != nil {
		return errors.Join(err, inner.Close())
	}
	return inner.Close()
}

// checkPack reads the object headers of a pack: no object may unpack larger than maxObject, nor
// all of them together larger than maxPack. A delta's size is the object it makes, read from
// the head of its delta data.
func checkPack(r io.Reader, maxObject, maxPack int64) error {
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	var total int64
	for i := uint32(0); i < count; i++ {
		h, err := sc.NextObjectHeader()
		if err != nil {
			return fmt.Errorf("read pack: %w", err)
		}
		size := h.Length
		if size > maxObject {
			return objectTooLarge(h, size, maxObject)
		}
		if h.Type == plumbing.OFSDeltaObject || h.Type == plumbing.REFDeltaObject {
			head := &headWriter{}
			if _, _, err := sc.NextObject(head); err != nil {
				return fmt.Errorf("read pack: %w", err)
			}
			if size, err = deltaTargetSize(head.b); err != nil {
				return fmt.Errorf("read pack: object %d: %w", i, err)
			}
			if size > maxObject {
				return objectTooLarge(h, size, maxObject)
			}
		}
		if total += size; total > maxPack {
			return fmt.Errorf("%w: the pack unpacks to more than MaxPackBytes (%d bytes)", ErrTooLarge, maxPack)
		}
	}
	return nil
}

func objectTooLarge(h *packfile.ObjectHeader, size, limit int64) error {
	return fmt.Errorf("%w: the pack holds an object of %d bytes (at offset %d), over MaxFileBytes (%d bytes)",
		ErrTooLarge, size, h.Offset, limit)
}

// headWriter keeps the first bytes written to it: the sizes at the head of delta data.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	if room := 20 - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// deltaTargetSize decodes the second size (the result's) at the head of git delta data; the
// first is the base's.
func deltaTargetSize(b []byte) (int64, error) {
	var size int64
	for n := 0; n < 2; n++ {
		size = 0
		for shift := uint(0); ; shift += 7 {
			if len(b) == 0 || shift > 56 {
				return 0, errors.New("bad delta header")
			}
			c := b[0]
			b = b[1:]
			size |= int64(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
	}
	return size, nil
}
