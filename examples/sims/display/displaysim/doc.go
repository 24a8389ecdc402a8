// Package displaysim is a TCP display simulator: the device the example display driver talks to.
// Tests use it in-process; the folder above builds it as a binary for demos.
//
// Protocol: one command per line, CRLF-terminated; every command is answered with one line.
//
//	POWER ON|OFF      -> POWER ON|OFF
//	INPUT <name>      -> INPUT <name>            (names are case-insensitive, answered upper-case)
//	VOLUME <0-100>    -> VOLUME <n>
//	STATUS?           -> STATUS POWER=ON INPUT=HDMI1 VOLUME=30
//	REBOOT            -> REBOOT OK, then every connection is closed
//	anything else     -> ERR <reason>
//
// State changed from the "front panel" (SetPower etc.) is pushed to every client as the same
// POWER/INPUT/VOLUME lines.
package displaysim
