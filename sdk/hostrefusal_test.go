package sdk

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHostRefusal: the statuses the engine refuses a save with (core/host.go SaveSetting, its
// rate as core's limitError sends it) and a status past its module's bounds (core/statusquota.go) become the *Error a driver can tell apart; gRPC's own
// ResourceExhausted (a message over its size) and a broken host stay what they are.
func TestHostRefusal(t *testing.T) {
	t.Parallel()
	limit, err := status.New(codes.ResourceExhausted, `driver "drv-x" saves settings faster than its limit of 10/s`).
		WithDetails(&errdetails.ErrorInfo{Reason: "DRIVER_LIMIT", Domain: "engine"})
	if err != nil {
		t.Fatal(err)
	}
	full, err := status.New(codes.ResourceExhausted, `status "x" of module "mod-x": the module has 1024 statuses`).
		WithDetails(&errdetails.ErrorInfo{Reason: "STATUSES_FULL", Domain: "engine"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		err    error
		status int // 0: not an *Error
		kind   string
	}{
		{"rate", limit.Err(), 429, "TooMany"},
		{"too large", status.Error(codes.InvalidArgument, "setting \"x\" is 70000 bytes, more than the 65536 a driver may save"), 400, "BadRequest"},
		{"settings full", status.Error(codes.InvalidArgument, "the module's settings would hold 257 keys"), 400, "BadRequest"},
		{"statuses full", full.Err(), 400, "BadRequest"},
		{"gRPC's own size limit", status.Error(codes.ResourceExhausted, "grpc: received message larger than max"), 0, ""},
		{"host gone", status.Error(codes.Unavailable, "connection refused"), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := hostRefusal(`save setting "x"`, tt.err)
			var e *Error
			if !errors.As(got, &e) {
				if tt.status != 0 {
					t.Fatalf("%v is not an *Error", got)
				}
				if !errors.Is(got, tt.err) {
					t.Fatalf("%v does not wrap %v", got, tt.err)
				}
				return
			}
			if e.Code() != tt.status || e.Class() != tt.kind {
				t.Fatalf("got %d %s, want %d %s", e.Code(), e.Class(), tt.status, tt.kind)
			}
			st, _ := status.FromError(tt.err)
			if want := `save setting "x": ` + st.Message(); e.Error() != want || strings.Contains(e.Error(), "rpc error") {
				t.Fatalf("message %q, want %q", e.Error(), want)
			}
			if s, ok := status.FromError(got); !ok || s.Code() != st.Code() {
				t.Fatalf("the *Error does not unwrap to the gRPC status %s", st.Code())
			}
		})
	}
}
