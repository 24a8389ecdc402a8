// Package sdktest runs a driver in-process against a fake host and mock devices, so a driver
// author tests with no device, no Redis and no engine.
//
// New wires the driver's runtime (what sdk.Serve serves) and a fake Host through an in-process
// gRPC connection, so every call crosses the same services and messages as in production (only
// go-plugin's process handling is left out). The harness offers:
//   - exec with positional (Exec, ExecAsync) or named (ExecNamed, ExecAsyncNamed) arguments as
//     a chosen user (Harness.User); a Result carries the value and code, and a failure as an
//     *sdk.Error in Result.Err (errors.As, or Result.Class, Message, Backtrace): a test imports
//     sdk and sdktest only;
//   - a mock TCP or UDP device (TCPDevice, UDPDevice) with byte-exact ShouldSend across reads
//     (the remainder stays for the next expectation), ExpectSend, Respond, Disconnect,
//     ExpectReconnect; failures print expected and received bytes as text and hex;
//   - a mock HTTP service (HTTPServer) handled request by request (Expect, ExpectJSON);
//   - statuses (Status, WaitStatus, WaitChange), settings updates (Settings) and SaveSetting
//     round-trips; a start whose OnLoad fails (TryStart returns its error);
//   - WaitIdle: wait until the module has finished what it was doing (a poll, a connect hook,
//     its statuses delivered) before advancing the virtual clock;
//   - mock modules in a mock system (Mock) answering driver-to-driver calls (failing with an
//     *sdk.Error as a driver function does) and declaring interfaces; a logic module under test
//     gets the system's module_info as the engine sends it (each mock's interfaces and
//     functions), and again with every Start or Update, as after a system change;
//   - captured driver logs (Logs, WaitLog) and forwarded debug lines (Host.Logs);
//   - the driver's metadata as the host receives it (Metadata), for golden files;
//   - a virtual clock (NewClock with sdk.WithClock) driving queue timeouts, retries, delays,
//     reconnect backoff and schedules, so tests never sleep.
//
// Output stays quiet unless a test fails: the driver's log lines go to the test log as
// "level: message k=v", which go test shows only for a failing test (or with -v), and LogWriter
// does the same for the loggers of what a test launches itself (a driver process through
// go-plugin, a simulator).
package sdktest
