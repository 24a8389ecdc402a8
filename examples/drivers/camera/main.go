// Command camera is the example UDP camera driver, VISCA over IP (built to bin/drivers/camera).
// The module's ip and port are the camera's (VISCA over IP listens on 52381).
package main

import "github.com/placeos-go/engine/sdk"

func main() { sdk.Serve(New, options...) }
