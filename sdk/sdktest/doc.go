// Package sdktest runs a driver in-process against a fake host and mock devices, so a driver
// author tests with no device, no Redis and no engine.
//
// New wires the driver's runtime (what sdk.Serve serves) and a fake Host through go-plugin's
// in-process gRPC test connection, so every call crosses the same wire as in production. The
// harness offers:
//   - exec with positional (Exec, ExecAsync) or named (ExecNamed, ExecAsyncNamed) arguments as
//     a chosen user (Harness.User);
//   - a mock TCP or UDP device (TCPDevice, UDPDevice) with byte-exact ShouldSend across reads
//     (the remainder stays for the next expectation), ExpectSend, Respond, Disconnect,
//     ExpectReconnect; failures print expected and received bytes as text and hex;
//   - a mock HTTP service (HTTPServer) handled request by request (Expect, ExpectJSON);
//   - statuses (Status, WaitStatus, WaitChange), settings updates (Settings) and SaveSetting
//     round-trips;
//   - mock modules in a mock system (Mock) answering driver-to-driver calls and declaring
//     interfaces, with the system's module_info for SystemProxy.All and Implementing;
//   - captured driver logs (Logs, WaitLog) and forwarded debug lines (Host.Logs);
//   - the driver's metadata as the host receives it (Metadata), for golden files;
//   - a virtual clock (NewClock with sdk.WithClock) driving queue timeouts, retries, delays,
//     reconnect backoff and schedules, so tests never sleep.
package sdktest
