// Command room is the example logic driver (built to bin/drivers/room).
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
