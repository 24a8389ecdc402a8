// Command display is the example TCP display driver (built to bin/drivers/display). The host
// launches it; run by hand with --metadata it prints its metadata.
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
