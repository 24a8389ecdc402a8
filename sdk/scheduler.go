package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Scheduler runs a module's timed jobs on the module's clock (Base.Schedule). Every job is
// cancelled when the module stops; jobs run in the module's goroutines, so stopping waits for a
// running job to return. Runs of one job never overlap: a run that falls due while the previous
// one is still going waits for it.
type Scheduler struct {
	m     *module
	clock Clock

	mu   sync.Mutex
	jobs map[*Job]struct{}
}

// Job is a scheduled job.
type Job struct {
	s     *Scheduler
	name  string
	runMu sync.Mutex // a job never overlaps itself

	// guarded by s.mu
	timer Timer
	next  time.Time
	runs  int
}

// Schedule is the module's scheduler.
func (b *Base) Schedule() *Scheduler {
	if b.m == nil {
		return &Scheduler{clock: WallClock{}, jobs: map[*Job]struct{}{}}
	}
	m := b.m
	m.extMu.Lock()
	defer m.extMu.Unlock()
	if m.sched == nil {
		m.sched = &Scheduler{m: m, clock: m.rt.clock(), jobs: map[*Job]struct{}{}}
	}
	return m.sched
}

// Every runs fn every d, the first time d from now.
func (s *Scheduler) Every(d time.Duration, fn func(ctx context.Context)) *Job {
	if d <= 0 {
		panic("sdk: Scheduler.Every needs a positive interval")
	}
	return s.add(fmt.Sprintf("every %s", d), func(now time.Time) time.Time { return now.Add(d) }, fn, false)
}

// In runs fn once, d from now.
func (s *Scheduler) In(d time.Duration, fn func(ctx context.Context)) *Job {
	return s.add(fmt.Sprintf("in %s", d), func(now time.Time) time.Time { return now.Add(d) }, fn, true)
}

// At runs fn on a cron schedule: five fields ("*/5 * * * *"), descriptors such as "@hourly" or
// "@every 90s", and an optional "CRON_TZ=Area/City " prefix. Without a prefix the times are in
// the module's system time zone when it has one, else the process's local zone.
func (s *Scheduler) At(spec string, fn func(ctx context.Context)) (*Job, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: cron spec %q: %w", ErrBadArguments, spec, err)
	}
	loc := time.Local
	if s.m != nil {
		s.m.mu.RLock()
		if s.m.system != nil && s.m.system.Timezone != "" {
			if l, err := time.LoadLocation(s.m.system.Timezone); err == nil {
				loc = l
			}
		}
		s.m.mu.RUnlock()
	}
	return s.add("at "+spec, func(now time.Time) time.Time { return sched.Next(now.In(loc)) }, fn, false), nil
}

// Clear cancels every job.
func (s *Scheduler) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := range s.jobs {
		j.stopLocked()
	}
}

// Len is the number of jobs still scheduled.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// Cancel stops the job; a run in progress finishes.
func (j *Job) Cancel() {
	j.s.mu.Lock()
	defer j.s.mu.Unlock()
	j.stopLocked()
}

// Next is when the job runs next (zero once it is cancelled or done).
func (j *Job) Next() time.Time {
	j.s.mu.Lock()
	defer j.s.mu.Unlock()
	return j.next
}

// Runs is how often the job has been started.
func (j *Job) Runs() int {
	j.s.mu.Lock()
	defer j.s.mu.Unlock()
	return j.runs
}

func (j *Job) stopLocked() {
	if j.timer != nil {
		j.timer.Stop()
	}
	j.next = time.Time{}
	delete(j.s.jobs, j)
}

func (s *Scheduler) add(name string, next func(time.Time) time.Time, fn func(context.Context), once bool) *Job {
	j := &Job{s: s, name: name}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m != nil && s.m.ctx.Err() != nil {
		return j // the module has stopped: nothing runs
	}
	s.jobs[j] = struct{}{}
	s.armLocked(j, next, fn, once)
	return j
}

// armLocked schedules the next run. The following run is armed before fn starts, so a test
// that advances the clock after seeing a run always finds the next one in place.
func (s *Scheduler) armLocked(j *Job, next func(time.Time) time.Time, fn func(context.Context), once bool) {
	now := s.clock.Now()
	at := next(now)
	if at.IsZero() {
		delete(s.jobs, j)
		return
	}
	j.next = at
	j.timer = s.clock.AfterFunc(at.Sub(now), func() {
		s.mu.Lock()
		if _, live := s.jobs[j]; !live {
			s.mu.Unlock()
			return
		}
		j.runs++
		if once {
			j.next = time.Time{}
			delete(s.jobs, j)
		} else {
			s.armLocked(j, next, fn, once)
		}
		s.mu.Unlock()
		s.run(j, fn)
	})
}

func (s *Scheduler) run(j *Job, fn func(context.Context)) {
	body := func(ctx context.Context) {
		defer func() {
			if p := recover(); p != nil && s.m != nil {
				s.m.log.Error("scheduled job panicked", "job", j.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		j.runMu.Lock()
		defer j.runMu.Unlock()
		fn(ctx)
	}
	if s.m == nil {
		go body(context.Background())
		return
	}
	// A run that falls due while the module stops is dropped, not started behind stop's back.
	// It counts as busy from the moment it falls due: inside the Advance of a virtual clock.
	s.m.hooks.Add(1)
	if !s.m.spawn(func() {
		defer s.m.hooks.Add(-1)
		body(s.m.ctx)
	}) {
		s.m.hooks.Add(-1)
	}
}
