package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/placeos-go/engine/errkind"
)

// TestClassify covers every kind; the WebSocket will read Code and Status from the same table.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		status   int
		code     ErrorCode
		internal bool
	}{
		{"system not found", fail(ErrSystemNotFound, nil, "x"), 404, CodeSystemNotFound, false},
		{"module not found", fail(ErrModuleNotFound, nil, "x"), 404, CodeModuleNotFound, false},
		{"foreign not found", errkind.New(errkind.NotFound, "x"), 404, CodeModuleNotFound, false},
		{"no route", fail(ErrRouteNotFound, nil, "x"), 404, CodeBadRequest, false},
		{"function not found", fail(ErrFunctionNotFound, nil, "x"), 400, CodeBadRequest, false},
		{"bad arguments", fail(ErrBadArguments, nil, "x"), 400, CodeBadRequest, false},
		{"malformed", fail(ErrMalformedJSON, nil, "x"), 400, CodeParseError, false},
		{"too large", &http.MaxBytesError{Limit: 1}, 413, CodeBadRequest, false},
		{"too large wrapped", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), 413, CodeBadRequest, false},
		{"unauthorized", errkind.New(errkind.Unauthorized, "x"), 401, CodeAccessDenied, false},
		{"forbidden", fail(ErrAccessDenied, nil, "x"), 403, CodeAccessDenied, false},
		{"conflict", errkind.New(errkind.Conflict, "x"), 409, CodeBadRequest, false},
		{"unavailable", errkind.New(errkind.Unavailable, "x"), 503, CodeUnexpectedFailure, false},
		{"timeout", errkind.New(errkind.Timeout, "x"), 504, CodeUnexpectedFailure, false},
		{"deadline", fmt.Errorf("exec: %w", context.DeadlineExceeded), 504, CodeUnexpectedFailure, false},
		{"cancelled", context.Canceled, StatusClientClosedRequest, CodeUnexpectedFailure, false},
		{"driver raised", &errkind.DriverError{Class: "E", Message: "m"}, 500, CodeRequestFailed, false},
		{"driver code", &errkind.DriverError{Message: "m", Code: 409}, 409, CodeRequestFailed, false},
		{"driver code 400", &errkind.DriverError{Message: "m", Code: 400}, 400, CodeBadRequest, false},
		{"driver code nonsense", &errkind.DriverError{Message: "m", Code: 42}, 500, CodeRequestFailed, false},
		{"argument error", &errkind.DriverError{Class: "ArgumentError", Message: "m"}, 400, CodeBadRequest, false},
		{"internal", errkind.New(errkind.Internal, "x"), 500, CodeUnexpectedFailure, true},
		{"plain", fmt.Errorf("who knows"), 500, CodeUnexpectedFailure, true},
		{"panic", errPanic, 500, CodeUnexpectedFailure, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Classify(tt.err)
			if p.Status != tt.status || p.Code != tt.code || p.Internal != tt.internal {
				t.Fatalf("Classify(%v) = %+v, want status %d code %v internal %v", tt.err, p, tt.status, tt.code, tt.internal)
			}
		})
	}
}

func TestErrorCodeNames(t *testing.T) {
	t.Parallel()
	want := []string{"parse_error", "bad_request", "access_denied", "request_failed",
		"unknown_command", "system_not_found", "module_not_found", "unexpected_failure"}
	for i, w := range want {
		if got := ErrorCode(i).String(); got != w {
			t.Fatalf("ErrorCode(%d) = %q, want %q", i, got, w)
		}
	}
	if ErrorCode(99).String() != "unexpected_failure" {
		t.Fatal("out-of-range code")
	}
}
