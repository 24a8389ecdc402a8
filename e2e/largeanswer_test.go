package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// An execute whose answer is many times the Execs stream's piece size comes back through a node
// byte for byte, while small executes to the same driver process go on beside it.
func TestLargeExecAnswer(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	td := testutil.BuildBinary(t, "./internal/testdriver")
	model := fmt.Sprintf(`
drivers:
  - {id: drv-test, module_name: Test, role: logic, binary: %q}
modules:
  - {id: mod-test, driver_id: drv-test, control_system_id: sys-1, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-test]}]
`, td)
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-largeanswer", model, "--auth", "keys", "--api-keys", apiKeysFile(t))
	user := enginetest.APIKey(userKey)
	e.Eventually(20*time.Second, "the module answering", func() bool {
		return e.Do("POST", "/api/engine/v2/modules/mod-test/exec/echo", `[0]`, user).Status == 200
	})
	// Every 6-digit string once (1 MB, four pieces): a piece out of place or lost shows.
	big, _ := json.Marshal([]string{testutil.DeBruijnDigits(6)})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			if r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/echo", fmt.Sprintf(`[%d]`, i), user); r.Status != 200 || r.Body != fmt.Sprintf(`[%d]`, i) {
				t.Errorf("small execute %d: %d %s", i, r.Status, r.Body)
			}
		}
	}()
	for i := range 3 {
		if r := e.Do("POST", "/api/engine/v2/modules/mod-test/exec/echo", string(big), user); r.Status != 200 || r.Body != string(big) {
			t.Errorf("large execute %d: %d, a body of %d bytes, want the %d sent", i, r.Status, len(r.Body), len(big))
		}
	}
	wg.Wait()
}
