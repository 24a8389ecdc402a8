// Command samsungmdc is the Samsung MDC display driver (built to bin/drivers/samsungmdc): Samsung
// signage displays over MDC on TCP port 1515 (README.md). The host launches it; run by hand
// with --metadata it prints its metadata.
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
