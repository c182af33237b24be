// Package azure emulates the part of Azure's control plane that drives
// an ExpressRoute Direct port's MACsec, so that a lab rehearses the change
// the way engineers make it: through Azure Resource Manager
// (Microsoft.Network/expressRoutePorts with its read-only links and a
// user-assigned identity), Key Vault's secrets data plane, and a token
// endpoint for a service principal the lab generates.
//
// The emulator serves HTTPS with a CA it generates, reached through an
// HTTP proxy (CONNECT) on a loopback address: clients keep Azure's URL
// shapes (https://management.<cloud>/subscriptions/…, https://<vault>.vault.<cloud>/secrets/…)
// without any name resolving, the way Azure's own clients reach Azure
// Stack Hub. A port bound to the lab has an Edge: a change of a link's
// macSecConfig or adminState that ARM accepts is handed to it with the
// CKN and CAK read from the named secret versions through the port's
// identity, exactly as the refusal rules below allow.
//
// Facts and sources: the README's "Azure control plane" section.
package azure
