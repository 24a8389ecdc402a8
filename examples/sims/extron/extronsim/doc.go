// Package extronsim is an Extron matrix switcher speaking SIS (Simple Instruction Set) over
// telnet, after Extron's public SIS documentation: the device the example extron driver talks
// to. Tests use it in-process; the folder above builds it as a binary for demos.
//
// A connection opens with the copyright banner and the date, then "\r\nPassword:" when the
// switcher has a password; the answer ends in CR and is greeted "Login Administrator", or
// prompted for again. Commands need no terminator except Esc commands, which end in CR ("W"
// may stand for Esc, as in Extron's web encoding); answers end in CRLF:
//
//	I*O!  I*O%  I*O$   tie input I to output O, all / video / audio -> Out2 In1 All|Vid|Aud
//	I*!   I*%   I*$    tie input I to every output                   -> In1 All|Vid|Aud
//	O!  O%  O$         read the input tied to output O               -> 1
//	Esc+Q I*O! ... CR  quick multiple tie, all at once               -> Qik
//	O*L V   O V        set / read output O's volume (0-64)           -> Out2 Vol40 | 40
//	O*1Z O*0Z O Z      mute / unmute / read output O's audio         -> Amt2*1 | 1
//	O*1B O*0B O B      mute / unmute / read output O's video         -> Vmt2*1 | 1
//	I  Q               information, firmware                         -> V8X4 A8X4 | 1.02
//	Esc 3CV CR         verbose mode 3 (0-3)                          -> Vrb3
//
// Errors: E01 invalid input, E10 invalid command, E12 invalid output, E13 invalid value, E22
// busy (SetBusy). Ties made at the front panel (Tie) are announced to connections in verbose
// mode 1 or 3, as "Out2 In1 All".
package extronsim
