package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// fill(prefix, n, size) sets n statuses prefix0…prefix<n-1> through Host.SetStatus, each a JSON
// string of size bytes, one after another, and stops at the first refusal. It answers how many
// were set and the refusal as the driver sees it: {"set": k, "code": "ResourceExhausted",
// "error": "…"} (code and error empty when all were set). A driver filling Redis through its
// statuses.
func fill(ctx context.Context, host proto.HostClient, id, prefix string, n, size int) ([]byte, error) {
	value := []byte(`"` + strings.Repeat("x", max(size-2, 0)) + `"`)
	var res struct {
		Set   int    `json:"set"`
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	for ; res.Set < n; res.Set++ {
		_, err := host.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: id, Name: fmt.Sprint(prefix, res.Set), ValueJson: value})
		if err != nil {
			st := status.Convert(err)
			res.Code, res.Error = st.Code().String(), st.Message()
			break
		}
	}
	return json.Marshal(res)
}
