// Package camerasim is a PTZ camera simulator speaking VISCA over IP on UDP: the device the
// example camera driver talks to. Tests use it in-process; the folder above builds it as a
// binary for demos.
//
// Every datagram is an 8-byte header and a payload: payload type (2 bytes), payload length (2
// bytes) and sequence number (4 bytes), all big-endian. Replies carry the sequence number of
// the datagram they answer.
//
//	type 0x0200 control  01                     -> 0x0201 01     (reset the sequence number)
//	type 0x0100 command  81 01 04 00 02|03 FF   -> ACK 90 41 FF, then completion 90 51 FF
//	                     81 01 04 47 0p 0q 0r 0s FF   zoom to pqrs (0x0000 wide - 0x4000 tele)
//	                     81 01 06 01 vv ww xx yy FF   pan/tilt drive (xx yy: 03 01 up, 03 02 down,
//	                                                  01 03 left, 02 03 right, 03 03 stop)
//	                     81 01 04 3F 01|02 pp FF      preset pp (0-127) set | recall
//	type 0x0110 inquiry  81 09 04 00 FF         -> 90 50 02 FF (on) | 90 50 03 FF (standby)
//	                     81 09 04 47 FF         -> 90 50 0p 0q 0r 0s FF
//
// Errors are 90 60 02 FF (syntax error, e.g. an unknown command) and 90 61 41 FF (command not
// executable: moving, zooming or recalling while in standby, recalling a preset never set).
// Power can also change from the "IR remote" (SetPower); VISCA over IP has no notifications,
// so a driver only learns of it by asking.
package camerasim
