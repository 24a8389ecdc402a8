// Package mdcsim is a simulated Samsung display speaking MDC (Multiple Display Control) over
// TCP: the device the samsungmdc example driver talks to. Tests start it in-process on a free
// port; the folder above builds it as a binary for demos.
//
// Frames, as in Samsung's MDC protocol document: a request is 0xAA, command, display id, data
// length, data, checksum (the sum of every byte after 0xAA, modulo 256); a request without data
// reads a value, with data sets it. The answer is 0xAA 0xFF, id, length, 'A' (Ack) or 'N' (Nak),
// the command, values (a Nak's one value is an error code), checksum.
//
// Commands: status 0x00 (power, volume, mute, input, aspect, two timer bytes), power 0x11
// (0 off, 1 on), volume 0x12 (0-100), mute 0x13, input source 0x14 (the codes of the document's
// source list), panel 0xF9 (0 on, 1 off). The simulator's error codes, its own choice since
// the document gives none: 0x01 unknown command or wrong data length, 0x02 a value out of range,
// 0x03 a setting other than power or panel while the display is off (in standby the display
// keeps its network, as with network standby on, and answers reads).
//
// Requests for another display id are ignored, as a display on a daisy chain ignores them; the
// broadcast id 0xFE is obeyed and never answered; a request with a bad checksum is dropped
// unanswered. MDC reports nothing by itself: changes from the remote (SetPower etc.) show on the
// next status read. SetSilent and CorruptReplies make a display that does not answer or whose
// answers are damaged.
package mdcsim
