package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/placeos-go/engine/sdk"
)

// Frame bytes of the MDC protocol.
const (
	header    = 0xAA // first byte of every frame, both ways
	replyMark = 0xFF // second byte of a reply, where a request has its command
	ack       = 'A'
	nak       = 'N'
	broadcast = 0xFE // display id every display on the chain obeys; none answers
)

// Commands this driver sends. A request without data reads the value, with data sets it.
const (
	cmdStatus = 0x00 // read: power, volume, mute, input, aspect, N time NF, F time NF
	cmdPower  = 0x11 // 0 off, 1 on (2 reboot, not used)
	cmdVolume = 0x12 // 0-100
	cmdMute   = 0x13 // 0 off, 1 on
	cmdInput  = 0x14 // a source code, see inputs
	cmdPanel  = 0xF9 // 0 panel on, 1 panel off: the picture goes, the display stays on the network
)

var commandNames = map[byte]string{
	cmdStatus: "status", cmdPower: "power", cmdVolume: "volume", cmdMute: "mute", cmdInput: "input source", cmdPanel: "panel",
}

// securedBanner is what a display with the secured protocol on (MDC over TLS with a PIN) sends
// first; this driver speaks plain MDC only, and says so rather than timing out.
var securedBanner = []byte("MDCSTART<<TLS>>")

// inputs are the source codes of the MDC input source command (0x14), named after the
// protocol document's source list; the status reports these names.
var inputs = []struct {
	name string
	code byte
}{
	{"s_video", 0x04}, {"component", 0x08}, {"av", 0x0C}, {"av2", 0x0D}, {"scart", 0x0E},
	{"pc", 0x14}, {"dvi", 0x18}, {"bnc", 0x1E}, {"dvi_video", 0x1F}, {"magic_info", 0x20},
	{"hdmi1", 0x21}, {"hdmi1_pc", 0x22}, {"hdmi2", 0x23}, {"hdmi2_pc", 0x24},
	{"display_port1", 0x25}, {"display_port2", 0x26}, {"display_port3", 0x27}, {"rf_tv", 0x30},
	{"hdmi3", 0x31}, {"hdmi3_pc", 0x32}, {"hdmi4", 0x33}, {"hdmi4_pc", 0x34}, {"dtv", 0x40},
	{"plug_in_module", 0x50}, {"hdbaset", 0x55}, {"media", 0x60}, {"screen_mirroring", 0x61},
	{"internal_usb", 0x62}, {"url_launcher", 0x63}, {"whiteboard", 0x64},
}

// inputAliases are the names PlaceOS's Samsung drivers use, accepted so a front-end written for
// them keeps working.
var inputAliases = map[string]string{"hdmi": "hdmi1", "display_port": "display_port1", "dp": "display_port1", "vga": "pc"}

// inputCode resolves an input name (any case, or an alias) to its source code.
func inputCode(name string) (byte, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := inputAliases[n]; ok {
		n = a
	}
	for _, in := range inputs {
		if in.name == n {
			return in.code, nil
		}
	}
	names := make([]string, 0, len(inputs))
	for _, in := range inputs {
		names = append(names, in.name)
	}
	sort.Strings(names)
	return 0, sdk.Errorf(400, "unknown input %q\nwant one of %s", name, strings.Join(names, ", "))
}

// inputName names a source code; a code this driver does not know (a newer model's source)
// shows as its hex value so the status still changes.
func inputName(code byte) string {
	for _, in := range inputs {
		if in.code == code {
			return in.name
		}
	}
	return fmt.Sprintf("0x%02x", code)
}

// request is the frame of one command: header, command, display id, data length, data,
// checksum.
func request(cmd, id byte, data ...byte) []byte {
	b := append([]byte{header, cmd, id, byte(len(data))}, data...)
	return append(b, checksum(b[1:]))
}

// checksum is the sum of the bytes after the header, modulo 256.
func checksum(b []byte) byte {
	var sum byte
	for _, c := range b {
		sum += c
	}
	return sum
}

// reply is a decoded Ack or Nak: header, 0xFF, display id, length, 'A' or 'N', the command
// answered, values (a Nak's single value is its error code), checksum.
type reply struct {
	id     byte
	ack    bool
	cmd    byte
	values []byte
}

// parseReply decodes a frame the tokenizer delivered (header, length and checksum already
// checked).
func parseReply(f []byte) (reply, error) {
	if len(f) < 7 || (f[4] != ack && f[4] != nak) {
		return reply{}, fmt.Errorf("not an Ack or Nak: % X", f)
	}
	return reply{id: f[2], ack: f[4] == ack, cmd: f[5], values: f[6 : len(f)-1]}, nil
}

// tokenizer frames replies by their header and length byte and drops one whose checksum does
// not match (the transport logs it); the secured protocol's banner is a frame of its own.
func tokenizer() *sdk.Tokenizer {
	return sdk.LengthPrefix(sdk.LengthPrefixed{Header: []byte{header, replyMark}, Offset: 3, Size: 1, Adjust: 1,
		Check: checkReply}).Also(string(securedBanner))
}

// checkReply compares a reply's checksum with the sum of its bytes.
func checkReply(f []byte) error {
	if sum := checksum(f[1 : len(f)-1]); sum != f[len(f)-1] {
		return fmt.Errorf("checksum %02X, want %02X", f[len(f)-1], sum)
	}
	return nil
}
