// Command lighting is the example HTTP/JSON lighting gateway driver (built to
// bin/drivers/lighting). The module's uri is the gateway's base URL.
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
