package sdk_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Codec is a device that greets every connection and asks for a password before it takes a
// command; its prompt has no line end.
type Codec struct{ sdk.Base }

// NewCodec makes the driver value of one module.
func NewCodec() *Codec { return &Codec{} }

// OnLoad connects; the handshake runs on every connection before any command goes out.
func (c *Codec) OnLoad(context.Context) error {
	sdk.NewTCP(&c.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r\n").Also("Password:"), Handshake: c.login})
	return nil
}

// login answers the password prompt. Its error (a refusal, or sdk.ErrHandshakeTimeout from
// Next) closes the connection and is what calls get until a login succeeds.
func (c *Codec) login(ctx context.Context, h *sdk.Handshake) error {
	for {
		frame, err := h.Next(ctx)
		if err != nil {
			return err
		}
		switch string(frame) {
		case "Password:":
			password, _ := sdk.SettingOr(&c.Base, "password", "")
			if err := h.Send(ctx, []byte(password+"\r\n")); err != nil {
				return err
			}
		case "Login OK":
			return nil
		case "Login failed":
			return &sdk.Error{Status: 502, Kind: "Login", Err: errors.New("the codec refused the password")}
		}
	}
}

// Standby is an ordinary command: it goes out once the login is done.
func (c *Codec) Standby(ctx context.Context) error {
	_, err := c.Queue().Do(ctx, sdk.Command{Data: []byte("standby\r\n"), Response: func(_ []byte, t *sdk.Task) { t.Success(nil) }})
	return err
}

// A device that wants a login on every connection: the handshake holds the command queue (and
// the "connected" status) until it is done.
func ExampleTCPOptions_handshake() {
	t := exampletest.New() // in a test: func TestLogin(t *testing.T)
	defer t.Done()

	h := sdktest.New(t, NewCodec)
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "Codec", Settings: map[string]string{"password": "1234"}})
	dev.ExpectConnect(1)
	dev.Respond("Welcome\r\nPassword:")
	dev.ShouldSend("1234\r\n")
	dev.Respond("Login OK\r\n")
	h.WaitStatus("connected", true)

	call := h.ExecAsync("standby")
	dev.ShouldSend("standby\r\n")
	dev.Respond("OK\r\n")
	fmt.Println(call.Result())
	// Output: 200 null
}

// A binary protocol framed by a header, a length and a checksum (Samsung's MDC: AA FF, an id,
// the length of what follows up to the checksum, then the sum of the bytes after AA). Noise
// before a header is skipped; a damaged frame is dropped and reported (a transport logs it).
func ExampleLengthPrefix() {
	tok := sdk.LengthPrefix(sdk.LengthPrefixed{
		Header: []byte{0xAA, 0xFF},
		Offset: 3, Size: 1, // the length byte follows AA FF and the id
		Adjust: 1, // the checksum after what the length counts
		Check: func(frame []byte) error {
			var sum byte
			for _, b := range frame[1 : len(frame)-1] {
				sum += b
			}
			if sum != frame[len(frame)-1] {
				return fmt.Errorf("checksum %02X, want %02X", frame[len(frame)-1], sum)
			}
			return nil
		},
	})
	frames, err := tok.Feed([]byte("\x00\xAA\xFF\x01\x02\x41\x11\x54\xAA\xFF\x01\x02\x41\x12\x99"))
	for _, f := range frames {
		fmt.Printf("% X\n", f)
	}
	fmt.Println(err)
	// Output:
	// AA FF 01 02 41 11 54
	// bad frame AA FF 01 02 41 12 99: checksum 99, want 55
}
