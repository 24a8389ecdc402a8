// Package pjlinksim is a PJLink class 1 projector (JBMIA PJLink specification, version 1.04):
// the device the example pjlink driver talks to. Tests use it in-process; the folder above
// builds it as a binary for demos.
//
// On every connection the projector greets first: "PJLINK 0\r" without authentication, or
// "PJLINK 1 <random>\r" with a password, when the first command must start with the 32
// lowercase hex digits of MD5(random + password). A wrong or missing digest is answered
// "PJLINK ERRA\r" and the connection is closed. Commands and answers end in CR:
//
//	%1POWR 0|1|?   -> %1POWR=OK | %1POWR=0 (off) 1 (on) 2 (cooling down) 3 (warming up)
//	%1INPT 11-59|? -> %1INPT=OK | %1INPT=31          (only the inputs of INST ?)
//	%1AVMT 10|11|20|21|30|31|? -> %1AVMT=OK | %1AVMT=30 (11 video, 21 audio, 31 both muted)
//	%1ERST ?       -> %1ERST=000000  fan, lamp, temperature, cover, filter, other: 0 ok 1 warning 2 error
//	%1LAMP ?       -> %1LAMP=1234 1  hours and lit (1) for each lamp
//	%1INST ?  %1NAME ?  %1INF1 ?  %1INF2 ?  %1CLSS ?  -> inputs, name, maker, model, class "1"
//
// Errors: ERR1 an undefined command, ERR2 a parameter out of range, ERR3 "unavailable time"
// (input or mute while the projector is not on, power off while warming up, power on while
// cooling down), ERR4 a projector failure (SetFault). Power changes pass through warming up and
// cooling down for Options.WarmUp and Options.CoolDown, measured on Options.Now, so a test can
// drive them with a virtual clock instead of sleeping.
package pjlinksim
