package supervisor

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/errkind"
	pb "github.com/placeos-go/engine/plugin/proto"
)

// guardedHost is the Host service as one driver process sees it. Every host call names the
// module it comes from, and the process could name any; this checks the name against the
// modules the supervisor gave that process, so a driver acts only as its own modules (their
// statuses, settings, log, subscriptions, calls). What a call targets is not checked here: a
// driver calling or reading another module is the feature, and the engine's limits and function
// security apply to it as to any caller.
//
// A module is the process's from just before its Start (its OnLoad calls back during Start)
// until its Stop returned. After that, what it still sets or logs (a driver saying
// connected=false as it unloads) is dropped without an error, so a stopping driver does not
// turn into a stream of refusals; its other calls are refused.
type guardedHost struct {
	pb.HostServer // the supervisor's hostServer
	d             *driver

	mu     sync.Mutex
	hosted map[string]map[*module]struct{} // by module id: the instances started in this process
	left   map[string]bool                 // modules this process hosted and no longer does
	warned map[string]bool                 // module ids a refusal was logged for
}

func newGuardedHost(inner pb.HostServer, d *driver) *guardedHost {
	return &guardedHost{HostServer: inner, d: d, hosted: map[string]map[*module]struct{}{},
		left: map[string]bool{}, warned: map[string]bool{}}
}

// admit gives m's id to the process, before m's Start is sent. An instance is counted on its own:
// a module stopped and started again at once has its old instance's leave come after the new
// one's admit, which must not take the id away.
func (g *guardedHost) admit(m *module) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hosted[m.id] == nil {
		g.hosted[m.id] = map[*module]struct{}{}
	}
	g.hosted[m.id][m] = struct{}{}
	delete(g.left, m.id)
}

// leave takes m's id from the process once its Stop returned (or it moved away).
func (g *guardedHost) leave(m *module) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.hosted[m.id][m]; !ok {
		return
	}
	delete(g.hosted[m.id], m)
	if len(g.hosted[m.id]) == 0 {
		delete(g.hosted, m.id)
		g.left[m.id] = true
	}
}

// maxWarned bounds the modules a process's refusals are logged for.
const maxWarned = 16

// verdict is what the guard says of a call naming a module.
type verdict int

const (
	allowed verdict = iota
	former          // the process hosted it: a last status or log line is dropped
	refused
)

// check says whether the process may act as moduleID; what names the call for the refusal.
func (g *guardedHost) check(moduleID, what string) (verdict, error) {
	g.mu.Lock()
	hosting := len(g.hosted[moduleID]) > 0
	wasHosted := g.left[moduleID]
	// Once per process and module, and for maxWarned modules at most: a hostile driver retrying,
	// or naming a new module each time, must not flood the log (nor grow this map).
	first := !hosting && !wasHosted && !g.warned[moduleID] && len(g.warned) <= maxWarned
	if first {
		g.warned[moduleID] = true
	}
	last := first && len(g.warned) > maxWarned
	g.mu.Unlock()
	switch {
	case hosting:
		return allowed, nil
	case wasHosted:
		return former, status.Errorf(codes.PermissionDenied, "%s as module %q: the module no longer runs in this driver process", what, moduleID)
	}
	switch {
	case last:
		g.d.log.Warn("driver process keeps acting as modules it does not host: further refusals are not logged", "modules", maxWarned)
	case first:
		g.d.log.Warn("driver process acted as a module it does not host: refused", "module", moduleID, "call", what)
	}
	return refused, status.Errorf(codes.PermissionDenied, "%s as module %q: this driver process does not host that module", what, moduleID)
}

// refuse is check's error, nil when the call may go on.
func (g *guardedHost) refuse(moduleID, what string) error {
	_, err := g.check(moduleID, what)
	return err
}

// dropOrRefuse is for writes a stopping module may still make: nil and drop true for a former
// module, the refusal for a stranger.
func (g *guardedHost) dropOrRefuse(moduleID, what string) (drop bool, err error) {
	v, err := g.check(moduleID, what)
	switch v {
	case allowed:
		return false, nil
	case former:
		g.d.log.Debug("host call of a stopped module dropped", "module", moduleID, "call", what)
		return true, nil
	}
	return false, err
}

func (g *guardedHost) SetStatus(ctx context.Context, r *pb.SetStatusRequest) (*pb.Empty, error) {
	if drop, err := g.dropOrRefuse(r.GetModuleId(), "set status"); drop || err != nil {
		return &pb.Empty{}, err
	}
	return g.HostServer.SetStatus(ctx, r)
}

func (g *guardedHost) Log(ctx context.Context, r *pb.LogRequest) (*pb.Empty, error) {
	if drop, err := g.dropOrRefuse(r.GetModuleId(), "log"); drop || err != nil {
		return &pb.Empty{}, err
	}
	return g.HostServer.Log(ctx, r)
}

func (g *guardedHost) SaveSetting(ctx context.Context, r *pb.SaveSettingRequest) (*pb.Empty, error) {
	if err := g.refuse(r.GetModuleId(), "save setting"); err != nil {
		return nil, err
	}
	return g.HostServer.SaveSetting(ctx, r)
}

func (g *guardedHost) GetStatus(ctx context.Context, r *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	if err := g.refuse(r.GetFromModule(), "get status"); err != nil {
		return nil, err
	}
	return g.HostServer.GetStatus(ctx, r)
}

func (g *guardedHost) Exec(ctx context.Context, r *pb.HostExecRequest) (*pb.ExecResponse, error) {
	if err := g.refuse(r.GetFromModule(), "call"); err != nil {
		return nil, err
	}
	return g.HostServer.Exec(ctx, r)
}

func (g *guardedHost) Publish(ctx context.Context, r *pb.PublishRequest) (*pb.Empty, error) {
	if err := g.refuse(r.GetFromModule(), "publish"); err != nil {
		return nil, err
	}
	return g.HostServer.Publish(ctx, r)
}

func (g *guardedHost) Subscribe(r *pb.SubscribeRequest, stream pb.Host_SubscribeServer) error {
	if err := g.refuse(r.GetFromModule(), "subscribe"); err != nil {
		return err
	}
	return g.HostServer.Subscribe(r, stream)
}

func (g *guardedHost) Monitor(r *pb.MonitorRequest, stream pb.Host_MonitorServer) error {
	if err := g.refuse(r.GetFromModule(), "monitor"); err != nil {
		return err
	}
	return g.HostServer.Monitor(r, stream)
}

// Subscriptions checks each subscription the driver opens on the stream: a refused one gets the
// error event a refused subscription gets from the host, and never reaches it.
func (g *guardedHost) Subscriptions(stream pb.Host_SubscriptionsServer) error {
	return g.HostServer.Subscriptions(&guardedSubs{Host_SubscriptionsServer: stream, g: g})
}

// guardedSubs is a Subscriptions stream whose opens are checked. Its refusals are sent from the
// host's reading goroutine while the host's handler sends events: gRPC allows one sender at a
// time, so both send under mu.
type guardedSubs struct {
	pb.Host_SubscriptionsServer
	g  *guardedHost
	mu sync.Mutex
}

func (s *guardedSubs) Send(e *pb.SubscriptionEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Host_SubscriptionsServer.Send(e)
}

func (s *guardedSubs) Recv() (*pb.SubscriptionControl, error) {
	for {
		c, err := s.Host_SubscriptionsServer.Recv()
		if err != nil || c.GetSubscribe() == nil {
			return c, err
		}
		err = s.g.refuse(c.Subscribe.GetFromModule(), "subscribe")
		if err == nil {
			return c, nil
		}
		// As the host refuses a call its caller may not make: 403 AccessDenied.
		p := errkind.Classify(errkind.New(errkind.Forbidden, status.Convert(err).Message()))
		if err := s.Send(&pb.SubscriptionEvent{Id: c.Id, Error: p.Message, Code: int32(p.Status), Class: p.Class}); err != nil {
			return nil, err
		}
	}
}
