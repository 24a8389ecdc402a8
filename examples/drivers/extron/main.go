// Command extron drives Extron matrix switchers over SIS on telnet (built to
// bin/drivers/extron). The host launches it; run by hand with --metadata it prints its metadata.
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
