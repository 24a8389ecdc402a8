package plugin

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// muteDriver's Execs streams never get the driver's headers: a frozen process.
type muteDriver struct {
	proto.DriverClient
}

func (muteDriver) Execs(ctx context.Context, _ ...grpc.CallOption) (proto.Driver_ExecsClient, error) {
	return muteStream{ctx: ctx}, nil
}

type muteStream struct {
	grpc.BidiStreamingClient[proto.ExecCall, proto.ExecResult]
	ctx context.Context
}

func (s muteStream) Header() (metadata.MD, error) {
	<-s.ctx.Done()
	return nil, s.ctx.Err()
}

// A call that finds another call opening the Execs stream waits for it only within its own
// deadline: a frozen driver holds the opener to the opener's, not everyone to the longest.
func TestExecsOpenWaitsWithinEachDeadline(t *testing.T) {
	t.Parallel()
	x := &execs{dc: muteDriver{}}
	long, cancelLong := context.WithCancel(context.Background())
	defer cancelLong()
	opener := make(chan error, 1)
	go func() {
		_, err := x.exec(long, &proto.ExecRequest{ModuleId: "mod-1", Function: "f"})
		opener <- err
	}()
	for {
		x.mu.Lock()
		opening := x.opening != nil
		x.mu.Unlock()
		if opening {
			break
		}
		time.Sleep(time.Millisecond)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	returned := make(chan error, 1)
	go func() {
		_, err := x.exec(short, &proto.ExecRequest{ModuleId: "mod-1", Function: "f"})
		returned <- err
	}()
	select {
	case err := <-returned:
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("the waiting call: %v, want DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call with a 50 ms deadline waited on another call's open of the stream")
	}
	cancelLong()
	if err := <-opener; status.Code(err) != codes.Canceled {
		t.Fatalf("the opener: %v, want Canceled", err)
	}
}
