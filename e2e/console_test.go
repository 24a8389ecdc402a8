package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/placeos-go/engine/internal/browsertest"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// consoleJWTSecret signs the bearer tokens the console test signs in with.
const consoleJWTSecret = "console-jwt-secret-0123456789abcdef"

// consoleEngine runs a node behind --auth keys (API keys and HS256 bearer tokens) with the demo's
// display and room drivers against a simulated display (sys-1, with a second display whose
// placement no node matches: unplaced), and a repository driver that does not compile beside a
// Samsung display with no device to reach (sys-lab).
func consoleEngine(t *testing.T) (*enginetest.Node, func() int) {
	t.Helper()
	redis := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	repo := newRepo(t)
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	room := testutil.BuildBinary(t, "./examples/drivers/room")
	mdc := testutil.BuildBinary(t, "./examples/drivers/samsungmdc")
	model := fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-display, name: Demo display, module_name: Display, role: device, binary: %q}
  - {id: drv-room, module_name: Room, role: logic, binary: %q}
  - {id: drv-broken, module_name: Broken, role: service, repository_id: repo-1, path: drivers/broken}
  - {id: drv-mdc, module_name: Signage, role: device, binary: %q}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true, notes: lobby screen}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
  - {id: mod-broken, driver_id: drv-broken, running: true}
  - {id: mod-mdc, driver_id: drv-mdc, ip: 127.0.0.1, port: 1, running: true, settings: {display_id: 1}}
  - {id: mod-far, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true, placement: {site: nowhere}}
systems:
  - id: sys-1
    name: Lobby
    modules: [mod-display, mod-room, mod-far]
    protected_settings: [{level: admin, settings: {door_code: "4321"}}]
  - {id: sys-lab, name: Lab, modules: [mod-broken, mod-mdc]}
`, repo.dir, display, room, mdc, sim.Port(), sim.Port())
	secret := filepath.Join(t.TempDir(), "jwt.secret")
	testutil.WriteFile(t, secret, consoleJWTSecret)
	e := enginetest.NewNode(t, config(redis.URL, "--sdk-dir", root, "--auth", "keys", "--api-keys", apiKeysFile(t),
		"--jwt-secret-file", secret, "--secrets-key-file", enginetest.SecretsKeyFile(t), "--labels", "site=hq"), "console")
	// Not waited for ready: the broken driver's build is part of the node's first reconcile.
	e.Start("--bootstrap", "--model", enginetest.WriteModel(t, model))
	e.Eventually(30*time.Second, "display connected", func() bool {
		r, err := e.Try("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "", enginetest.APIKey(adminKey))
		return err == nil && r.Body == "true"
	})
	return e, func() int { return sim.State().Volume }
}

// TestConsole drives the operator console in a real headless Chromium against a real node with
// real driver processes: sign in; the cluster; a build failure with the compiler's output; a
// status change made from outside arriving live over the console's WebSocket; a function run
// from its generated form (and refused by the API with its code); a module's debug stream; a
// model edit refused inline; export; and a user who sees no write button and whose forced write
// is refused by the API, the refusal shown. Screenshots of each page go to tmp/console/.
func TestConsole(t *testing.T) {
	t.Parallel()
	e, volume := consoleEngine(t)
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	shots := filepath.Join(root, "tmp", "console")
	b := browsertest.Start(t)
	const within = 30 * time.Second   // generous: make test runs this beside the whole suite on 2 cores
	text := func(sel string) string { // textContent of sel as a JS expression, "" when absent
		return fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || '')`, sel)
	}
	openSignIn := func(t *testing.T) {
		t.Helper()
		b.Do(t, "open the console", chromedp.Navigate(e.Base+"/console"))
		b.WaitFor(t, within, "sign-in form", `document.querySelector('#signin')`)
	}
	submitSignIn := func(t *testing.T, kind, secret, who string) { // kind: "key" or "token"
		t.Helper()
		b.Do(t, "sign in", chromedp.SetValue(chromedp.ID("cred-kind"), kind),
			chromedp.SendKeys(chromedp.ID("cred-secret"), secret), chromedp.Click(chromedp.ID("signin-submit")))
		b.WaitFor(t, within, "signed in as "+who, text("#who")+`.includes(`+fmt.Sprintf("%q", who)+`)`)
	}
	signIn := func(t *testing.T, kind, secret, who string) {
		t.Helper()
		openSignIn(t)
		submitSignIn(t, kind, secret, who)
	}
	page := func(t *testing.T, hash string) {
		t.Helper()
		b.Do(t, "go to "+hash, chromedp.Navigate(e.Base+"/console"+hash))
	}

	// A wrong key is refused on the sign-in page.
	b.Do(t, "open the console", chromedp.Navigate(e.Base+"/console"))
	b.WaitFor(t, within, "sign-in form", `document.querySelector('#signin')`)
	b.Do(t, "sign in with a wrong key", chromedp.SendKeys(chromedp.ID("cred-secret"), "wrong-key-0123456789"), chromedp.Click(chromedp.ID("signin-submit")))
	b.WaitFor(t, within, "the refusal shown", text("#signin-error")+`.includes('401 unauthorized')`)

	t.Run("admin", func(t *testing.T) {
		signIn(t, "key", adminKey, "ada · admin")
		b.WaitFor(t, within, "cluster: leader and ready", text("#cluster-summary")+`.includes('Leader: console') && `+text("#cluster-summary")+`.includes('✓ ready')`)
		b.WaitFor(t, within, "cluster: the node up, its labels and role", text("#nodes")+`.includes('✓ up') && `+text("#nodes")+`.includes('site=hq') && `+
			text("#nodes")+`.includes('leader')`)
		b.WaitFor(t, within, "cluster: the unplaced module beside ready, with its reason", text("#cluster-summary")+`.includes('1 module unplaced') && `+
			text("#unplaced")+`.includes('mod-far') && `+text("#unplaced")+`.includes('no node up with site=nowhere')`)
		b.Screenshot(t, shots, "1-cluster")
		// A non-voter is named by its Raft role, not "follower". This node's answer with a
		// non-voter added (a second node joining would double the test's time): the page's
		// fetch is wrapped until the next navigation.
		browsertest.Eval[bool](t, b, `(() => {
			const real = window.fetch;
			window.fetch = async (url, init) => {
				const r = await real(url, init);
				if (!String(url).endsWith('/api/engine/v2/cluster')) return r;
				const c = await r.json();
				c.nodes.push({ ...c.nodes[0], id: 'remote-1', leader: false, voter: false, labels: { site: 'b', floor: '3' } });
				return new Response(JSON.stringify(c), { status: 200 });
			};
			return true;
		})()`)
		b.WaitFor(t, within, "the non-voter named so", `[...document.querySelectorAll('#nodes tr')].some(r => r.textContent.includes('remote-1') && r.textContent.includes('non-voter') && r.textContent.includes('site=b, floor=3'))`)

		page(t, "#/drivers")
		b.WaitFor(t, 60*time.Second, "the build failure with the compiler output",
			text(".builds")+`.includes('✗ failed') && `+text(".builds")+`.includes('syntax error')`)
		b.WaitFor(t, within, "driver processes", text(".processes")+`.includes('✓ running')`)
		// A build is named by its driver's path; its binary's name is in the title.
		b.WaitFor(t, within, "the build's short name", `[...document.querySelectorAll('.builds span[title^="drivers+broken_"]')].some(s => s.textContent === 'drivers/broken')`)
		b.WaitFor(t, within, "pull and recompile offered to an admin",
			`document.querySelector('.repositories button') && document.querySelector('#model-drivers button')`)
		b.Do(t, "pull", chromedp.Click(chromedp.CSS(`.repositories button`)))
		b.WaitFor(t, within, "the pull's answer", text("#action-result")+`.includes('pull repo-1: done') && `+text("#action-result")+`.includes('"state": "ready"')`)
		b.Do(t, "recompile the broken driver", chromedp.Click(chromedp.CSS(`#model-drivers button`)))
		b.WaitFor(t, 60*time.Second, "the recompile refused with the compiler's complaint", text("#action-result")+`.includes('recompile drv-broken: refused') && `+
			text("#action-result")+`.includes('syntax error')`)
		b.Screenshot(t, shots, "2-drivers")

		// A module whose driver has not built, and one whose start fails, say so live instead of
		// "running", their Execute disabled with the reason; once started, "running" again.
		page(t, "#/systems/sys-lab")
		b.WaitFor(t, within, "Broken_1 not running: not built", text("#state-Broken_1")+` === '✗ not running: its driver has not built (see Drivers)' && `+
			`[...document.querySelectorAll('#module-Broken_1 form.fn button[type=submit]')].every(b => b.disabled) && `+text("#module-Broken_1 details")+`.includes('503')`)
		signage := func(state, buttons string) string {
			return text("#state-Signage_1") + state + ` && ((bs) => bs.length > 0 && bs.every(b => ` + buttons + `))([...document.querySelectorAll('#module-Signage_1 form.fn button[type=submit]')])`
		}
		b.WaitFor(t, within, "Signage_1 running, its Execute enabled", signage(` === '✓ running'`, `!b.disabled`))
		for _, step := range []struct{ method, path, body string }{
			{"POST", "/modules/mod-mdc/stop", ""},
			{"PATCH", "/modules/mod-mdc", `{"settings": {"display_id": 255}}`},
			{"POST", "/modules/mod-mdc/start", ""},
		} {
			r := e.Do(step.method, "/api/engine/v2"+step.path, step.body, enginetest.APIKey(adminKey))
			t.Logf("%s %s: %d %s", step.method, step.path, r.Status, r.Body)
		}
		b.WaitFor(t, within, "Signage_1 not running: its start failing, with the driver's reason", signage(`.startsWith('✗ not running: start failing since ') && `+
			text("#state-Signage_1")+`.includes('display_id')`, `b.disabled && b.title.startsWith('not running: start failing since ')`))
		b.Screenshot(t, shots, "2-not-running")
		if r := e.Do("PATCH", "/api/engine/v2/modules/mod-mdc", `{"settings": {"display_id": 1}}`, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("fixing Signage_1's settings: %d %s", r.Status, r.Body)
		}
		b.WaitFor(t, within, "Signage_1 running again, its Execute enabled", signage(` === '✓ running'`, `!b.disabled && b.title === ''`))

		page(t, "#/systems/sys-1")
		power := `#status-Display_1 [data-status=power]`
		b.WaitFor(t, within, "Display_1's power bound", text(power)+` === 'false' || `+text(power)+` === 'true'`)
		b.WaitFor(t, within, "Room_1 listed in order", `document.querySelector('#module-Display_1 ~ #module-Room_1')`)
		// The unplaced display: its reason instead of "running", and nothing to execute.
		b.WaitFor(t, within, "Display_2 unplaced with its reason", text("#state-Display_2")+`.startsWith('✗ unplaced: no node up with site=nowhere')`)
		b.WaitFor(t, within, "Display_2's functions refused or disabled", `[...document.querySelectorAll('#module-Display_2 form.fn button[type=submit]')].every(b => b.disabled) && `+
			`(document.querySelector('#module-Display_2 form.fn') || `+text("#module-Display_2 details")+`.includes('503'))`)
		// An execute from outside (another client over REST): its status change arrives live.
		for _, want := range []string{"true", "false"} {
			if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Display_1/power", "["+want+"]", enginetest.APIKey(adminKey)); r.Status != 200 {
				t.Fatalf("power(%s) from outside: %d %s", want, r.Status, r.Body)
			}
			b.WaitFor(t, within, "power "+want+" shown live", text(power)+` === '`+want+`'`)
		}

		// A function from its generated form: the integer field with its limits and default.
		b.WaitFor(t, within, "volume's form", `document.querySelector('#fn-Display_1-volume-level')`)
		if got := browsertest.Eval[string](t, b, text(`label[for="fn-Display_1-volume-level"]`)); !strings.Contains(got, "integer") || !strings.Contains(got, "default 50") || !strings.Contains(got, "max 100") {
			t.Errorf("volume's level field says %q", got)
		}
		b.Do(t, "run volume(30)", chromedp.SendKeys(chromedp.ID("fn-Display_1-volume-level"), "30"),
			chromedp.Click(chromedp.CSS(`#fn-Display_1-volume button[type=submit]`)))
		b.WaitFor(t, within, "volume's result", text("#fn-Display_1-volume-result")+`.includes('✓ 200: 30')`)
		if v := volume(); v != 30 {
			t.Errorf("the display's volume is %d after the form ran volume(30)", v)
		}
		b.WaitFor(t, within, "volume 30 shown live", text(`#status-Display_1 [data-status=volume]`)+` === '30'`)
		b.Do(t, "run volume(200)", chromedp.SetValue(chromedp.ID("fn-Display_1-volume-level"), "200"),
			chromedp.Click(chromedp.CSS(`#fn-Display_1-volume button[type=submit]`)))
		b.WaitFor(t, within, "the API's refusal with its code", text("#fn-Display_1-volume-result")+`.includes('400 bad_request') && `+
			text("#fn-Display_1-volume-result")+`.includes('maximum')`)
		if got := browsertest.Eval[string](t, b, text(`#fn-Display_1-reboot`)); !strings.Contains(got, "security: support") {
			t.Errorf("reboot's form does not show its security level: %q", got)
		}

		// The module's debug stream, then a function that logs.
		b.Do(t, "debug Display_1", chromedp.Click(chromedp.ID("debug-btn-Display_1")))
		b.WaitFor(t, within, "debug stream attached", text("#debug-Display_1")+`.includes('debug stream of mod-display')`)
		b.Do(t, "run reboot", chromedp.Click(chromedp.CSS(`#fn-Display_1-reboot button[type=submit]`)))
		b.WaitFor(t, within, "the driver's log line in the stream", text("#debug-Display_1")+`.includes('[info] rebooting display')`)
		b.Screenshot(t, shots, "3-system")
		// The same page on a phone: one column, nothing cut off.
		b.Do(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
		if w := browsertest.Eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("on a 390 px phone the system page is %d px wide", w)
		}
		b.Screenshot(t, shots, "3-system-phone")
		b.Do(t, "desktop viewport", chromedp.EmulateViewport(1100, 900))

		// Stop and start, as support and admin may.
		b.Do(t, "stop Display_1", chromedp.Click(chromedp.ID("stop-Display_1")))
		b.WaitFor(t, within, "Display_1 stopped", text("#module-Display_1 .row")+`.includes('✗ stopped') && `+text("#module-Display_1 .row")+`.includes('stop: done')`)
		b.Do(t, "start Display_1", chromedp.Click(chromedp.ID("start-Display_1")))
		b.WaitFor(t, within, "Display_1 running", text("#module-Display_1 .row")+`.includes('✓ running') && `+text("#module-Display_1 .row")+`.includes('start: done')`)

		// A module that ran and is then placed where no node is: the open page says so and
		// disables the Execute buttons its listing still offers.
		if r := e.Do("PATCH", "/api/engine/v2/modules/mod-room", `{"placement": {"site": "nowhere"}}`, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("placing Room_1 nowhere: %d %s", r.Status, r.Body)
		}
		b.WaitFor(t, within, "Room_1 unplaced, its Execute disabled", text("#state-Room_1")+`.startsWith('✗ unplaced: no node up with site=nowhere') && `+
			`((bs) => bs.length > 0 && bs.every(b => b.disabled && b.title.startsWith('unplaced')))([...document.querySelectorAll('#module-Room_1 form.fn button[type=submit]')])`)
		if r := e.Do("PATCH", "/api/engine/v2/modules/mod-room", `{"placement": null}`, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("placing Room_1 anywhere again: %d %s", r.Status, r.Body)
		}
		b.WaitFor(t, within, "Room_1 running again, its Execute enabled", text("#state-Room_1")+` === '✓ running' && `+
			`((bs) => bs.length > 0 && bs.every(b => !b.disabled))([...document.querySelectorAll('#module-Room_1 form.fn button[type=submit]')])`)

		// Model: an edit the API refuses shows its reason under the editor, and export.
		page(t, "#/model/modules/mod-display")
		b.WaitFor(t, within, "the module's JSON", `document.querySelector('#entity-json').value.includes('"id": "mod-display"')`)
		b.Do(t, "save a module with a driver that does not exist",
			chromedp.SetValue(chromedp.ID("entity-json"), `{"id": "mod-display", "driver_id": "drv-nope", "running": true}`),
			chromedp.Click(chromedp.ID("save")))
		b.WaitFor(t, within, "the validation error inline", text("#entity-error")+`.includes('400 bad_request') && `+text("#entity-error")+`.includes('drv-nope')`)
		b.Screenshot(t, shots, "4-model")
		if r := e.Do("GET", "/api/engine/v2/modules/mod-display", "", enginetest.APIKey(adminKey)); !strings.Contains(r.Body, `"driver_id":"drv-display"`) {
			t.Fatalf("the refused edit changed the module: %s", r.Body)
		}
		page(t, "#/model/systems/sys-1")
		b.WaitFor(t, within, "an admin reads the admin-level protected setting", `document.querySelector('#entity-json').value.includes('"door_code": "4321"')`)
		page(t, "#/model")
		b.Do(t, "export", chromedp.Click(chromedp.ID("export")))
		b.WaitFor(t, within, "the model file to download", `document.querySelector('#export-link a[download="model.json"]')`)
		b.Do(t, "apply a model file", chromedp.SetValue(chromedp.ID("apply-text"), `{"zones": [{"id": "zone-lobby", "name": "Lobby floor"}]}`),
			chromedp.Click(chromedp.CSS(`#apply-form button[type=submit]`)))
		b.WaitFor(t, within, "applied", text("#apply-result")+`.includes('✓ applied: model version')`)
		if r := e.Do("GET", "/api/engine/v2/zones/zone-lobby", "", enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("the applied zone: %d %s", r.Status, r.Body)
		}
		b.Do(t, "apply a model file that does not parse", chromedp.SetValue(chromedp.ID("apply-text"), `{"zones": [`),
			chromedp.Click(chromedp.CSS(`#apply-form button[type=submit]`)))
		b.WaitFor(t, within, "the refusal under the form", text("#apply-result")+`.includes('400 parse_error')`)

		b.Do(t, "sign out", chromedp.Click(chromedp.ID("signout")))
		b.WaitFor(t, within, "signed out", `document.querySelector('#signin') && sessionStorage.length === 0`)
	})

	t.Run("user", func(t *testing.T) {
		// With a bearer token this time (PlaceOS's user: no role claim), which the console sends
		// in the Authorization header and as the WebSocket's bearer_token parameter.
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "tess", "exp": time.Now().Add(time.Hour).Unix()}).
			SignedString([]byte(consoleJWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		signIn(t, "token", token, "tess · user")
		page(t, "#/systems/sys-1")
		b.WaitFor(t, within, "Display_1's forms", `document.querySelector('#fn-Display_1-power')`)
		b.WaitFor(t, within, "Display_1's power bound over the token's WebSocket", `['true', 'false'].includes(`+text(`#status-Display_1 [data-status=power]`)+`)`)
		b.WaitFor(t, within, "Display_2 unplaced for a user too", text("#state-Display_2")+`.startsWith('✗ unplaced: no node up')`)
		page(t, "#/systems/sys-lab")
		b.WaitFor(t, within, "Broken_1 not built for a user too", text("#state-Broken_1")+` === '✗ not running: its driver has not built (see Drivers)'`)
		page(t, "#/systems/sys-1")
		b.WaitFor(t, within, "Display_1's forms again", `document.querySelector('#fn-Display_1-power')`)
		for _, sel := range []string{"#stop-Display_1", "#start-Display_1", "#debug-btn-Display_1", "#fn-Display_1-reboot"} {
			if browsertest.Eval[bool](t, b, fmt.Sprintf(`!!document.querySelector(%q)`, sel)) {
				t.Errorf("a user is offered %s", sel)
			}
		}
		// Forced anyway (the console's own API call, as a tampered page would make it): the
		// engine refuses, and the console shows the refusal.
		browsertest.Eval[bool](t, b, `import('/console/api.js').then(m => m.call('POST', '/api/engine/v2/modules/mod-display/stop')).then(() => true, () => false)`)
		b.WaitFor(t, within, "the refusal shown", text("#notice")+`.includes('403 access_denied')`)
		b.Screenshot(t, shots, "5-user")
		if r := e.Do("GET", "/api/engine/v2/modules/mod-display", "", enginetest.APIKey(adminKey)); !strings.Contains(r.Body, `"running":true`) {
			t.Fatalf("the user's forced stop stopped the module: %s", r.Body)
		}

		page(t, "#/drivers")
		b.WaitFor(t, within, "the drivers page", text(".repositories")+`.includes('repo-1')`)
		if browsertest.Eval[bool](t, b, `!!document.querySelector('.repositories button, #model-drivers button')`) {
			t.Error("a user is offered pull or recompile")
		}
		page(t, "#/model/modules/mod-display")
		b.WaitFor(t, within, "the module's JSON", `document.querySelector('#entity-json').value.includes('"id": "mod-display"')`)
		if browsertest.Eval[bool](t, b, `!!document.querySelector('#save') || !document.querySelector('#entity-json').readOnly`) {
			t.Error("a user may edit the model")
		}
		page(t, "#/model/systems/sys-1")
		b.WaitFor(t, within, "the system's JSON, its protected setting redacted", `document.querySelector('#entity-json').value.includes('"door_code": "[redacted]"')`)
		if browsertest.Eval[bool](t, b, `document.body.innerHTML.includes('4321') || document.querySelector('#entity-json').value.includes('4321')`) {
			t.Error("a user is shown an admin-level protected setting")
		}
		page(t, "#/model")
		b.WaitFor(t, within, "the model page", `document.querySelector('#export')`)
		if browsertest.Eval[bool](t, b, `!!document.querySelector('#apply-text')`) {
			t.Error("a user is offered to apply a model file")
		}
	})
	t.Run("token expires", func(t *testing.T) {
		// exp 15 s ago and the verifier's 30 s leeway: the token works for about 15 s more, then
		// the engine closes the console's WebSocket (4001) and the console asks for a fresh one
		// instead of reconnecting with the dead token. The token is made once the sign-in form is
		// there, and its 15 s are room for a loaded machine's sign-in: with 5 s the token had
		// expired before the console showed the user signed in.
		browsertest.Eval[bool](t, b, `(sessionStorage.clear(), true)`) // the user's token of the last step
		openSignIn(t)
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "tess", "exp": time.Now().Add(-15 * time.Second).Unix()}).
			SignedString([]byte(consoleJWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		submitSignIn(t, "token", token, "tess · user")
		b.WaitFor(t, within, "the sign-in form again, saying why", `document.querySelector('#signin') && `+text("#signin-error")+`.includes('expired') && sessionStorage.length === 0`)
		page(t, "#/drivers")
		if browsertest.Eval[bool](t, b, `!!document.querySelector('.repositories')`) {
			t.Error("a page was drawn after the token expired")
		}
	})
	// A node without authentication (--auth none, as `engine dev` runs): nothing to sign in with,
	// the console opens at once as the anonymous admin, with no sign-out to offer.
	t.Run("no authentication", func(t *testing.T) {
		open := enginetest.StartEngine(t, config(testutil.StartRedis(t).URL), "console-open", "")
		b.Do(t, "open the console", chromedp.Navigate(open.Base+"/console"))
		b.WaitFor(t, within, "signed in without a credential", text("#who")+` === '(no user id) · admin' && document.querySelector('#signout').hidden`)
		b.WaitFor(t, within, "its cluster", text("#cluster-summary")+`.includes('Leader: console-open')`)
	})
}
