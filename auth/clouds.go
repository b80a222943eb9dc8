package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// entraCloud is one Microsoft Entra cloud: the sign-in host of its authorities, the host of its
// v2 issuer and the host of its v1 issuer.
type entraCloud struct {
	v2Host, v1Host string
}

// entraClouds maps each Entra sign-in host to its issuers' hosts. Entra issues v1 tokens
// (iss https://<v1 host>/<tid>/) unless the API's registration asks for v2 (iss
// https://<v2 host>/<tid>/v2.0), so both are accepted by default, in every cloud.
//
// The v1 issuer hosts per cloud are those of Microsoft's answer "What are the token issuers
// for the sovereign cloud" (https://learn.microsoft.com/en-us/answers/questions/1190472):
// global service sts.windows.net / login.microsoftonline.com; US Government sts.windows.net /
// login.microsoftonline.us; China operated by 21Vianet sts.chinacloudapi.cn /
// login.partner.microsoftonline.cn (Azure Germany has closed). The Bot Framework's
// AuthenticationConstants.ValidGovernmentTokenIssuerUrlTemplateV1 documents the same
// sts.windows.net template for US Government. The China cloud's older sign-in host
// login.chinacloudapi.cn (https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud)
// issues under the same names.
var entraClouds = map[string]entraCloud{
	"login.microsoftonline.com":        {v2Host: "login.microsoftonline.com", v1Host: "sts.windows.net"},
	"login.windows.net":                {v2Host: "login.microsoftonline.com", v1Host: "sts.windows.net"},
	"login.microsoftonline.us":         {v2Host: "login.microsoftonline.us", v1Host: "sts.windows.net"},
	"login.partner.microsoftonline.cn": {v2Host: "login.partner.microsoftonline.cn", v1Host: "sts.chinacloudapi.cn"},
	"login.chinacloudapi.cn":           {v2Host: "login.partner.microsoftonline.cn", v1Host: "sts.chinacloudapi.cn"},
}

// guidPattern is a tenant ID in Entra's 8-4-4-4-12 hexadecimal form.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a GUID such as an Entra tenant ID.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// IsEntraAuthority reports whether the authority's host is one of Microsoft Entra's sign-in
// hosts (public cloud or a national cloud), where the v1 issuer and the tenant rules apply.
func IsEntraAuthority(authority string) bool {
	_, ok := cloudOf(authority)
	return ok
}

// cloudOf returns the cloud of an authority URL's host.
func cloudOf(authority string) (entraCloud, bool) {
	u, err := url.Parse(authority)
	if err != nil {
		return entraCloud{}, false
	}
	c, ok := entraClouds[strings.ToLower(u.Hostname())]
	return c, ok
}

// AuthorityTenant returns the tenant path segment of an authority URL (https://host/<tenant>).
func AuthorityTenant(authority string) string {
	u, err := url.Parse(authority)
	if err != nil {
		return ""
	}
	return strings.Trim(u.Path, "/")
}

// IsMultiTenant reports whether the tenant segment names no single tenant: Entra's "common"
// and "organizations" accept users of any tenant, and their issuer is a {tenantid} template.
func IsMultiTenant(tenant string) bool {
	t := strings.ToLower(tenant)
	return t == "common" || t == "organizations"
}

// EntraIssuers returns a tenant's two issuers in the cloud of authority: v2
// https://<v2 host>/<tid>/v2.0 and v1 https://<v1 host>/<tid>/. ok is false when the
// authority is not an Entra host or tid is not a GUID (a domain name never appears in iss).
func EntraIssuers(authority, tid string) (issuers []string, ok bool) {
	c, ok := cloudOf(authority)
	if !ok || !IsGUID(tid) {
		return nil, false
	}
	tid = strings.ToLower(tid)
	return []string{"https://" + c.v2Host + "/" + tid + "/v2.0", "https://" + c.v1Host + "/" + tid + "/"}, true
}

// EntraAuthorizationServer is the v2 issuer form of an Entra authority,
// https://<v2 host>/<tenant>/v2.0, which is also what VS Code's Microsoft sign-in recognises in
// authorization_servers (see commands). "" for other authorities.
func EntraAuthorizationServer(authority string) string {
	c, ok := cloudOf(authority)
	t := AuthorityTenant(authority)
	if !ok || t == "" {
		return ""
	}
	return "https://" + c.v2Host + "/" + t + "/v2.0"
}

// WithAppID adds appid=<apiClientID> to the query of a discovery or key set URL, unless it is
// there already. Entra serves an app's custom signing keys (claims mapping, SAML token
// signing, a key added to the registration) only in the key set asked for with that
// parameter; tokens signed with them name a kid absent from the tenant's common key set.
// See https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-signature.
func WithAppID(rawURL, apiClientID string) string {
	u, err := url.Parse(rawURL)
	if err != nil || apiClientID == "" {
		return rawURL
	}
	q := u.Query()
	if q.Get("appid") != "" {
		return rawURL
	}
	q.Set("appid", apiClientID)
	u.RawQuery = q.Encode()
	return u.String()
}

// DiscoverV1 fetches the v1 OpenID metadata an Entra-style authority publishes at
// <authority>/.well-known/openid-configuration (Entra's names the v1 issuer
// https://sts.windows.net/<tid>/). found is false when the document does not exist (404);
// other failures are errors.
func DiscoverV1(ctx context.Context, client *http.Client, authority string) (d *Discovery, found bool, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimRight(authority, "/") + "/.well-known/openid-configuration"
	d = &Discovery{}
	if err := getJSON(ctx, client, u, discoveryTimeout, d); err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("could not read the v1 discovery document: %w", err)
	}
	if d.Issuer == "" {
		return nil, false, fmt.Errorf("%s names no issuer", u)
	}
	return d, true, nil
}

// AllowedTenantIssuers returns, for a multi-tenant API (authority .../organizations or
// .../common), the v1 and v2 issuers of each allowed tenant in the authority's cloud, and the
// map binding each issuer to its tenant (VerifierConfig.IssuerTenants). Validating iss against
// the token's own tid and an allow-list is what keeps a token from an unknown tenant out
// (openai/codex#38973 discusses the failure of checking neither). Every tenant must be a GUID:
// iss never carries a domain name.
func AllowedTenantIssuers(authority string, tenants []string) (issuers []string, tenantOf map[string]string, err error) {
	tenantOf = map[string]string{}
	for _, t := range tenants {
		iss, ok := EntraIssuers(authority, t)
		if !ok {
			if !IsGUID(t) {
				return nil, nil, fmt.Errorf("allowed tenant %q is not a tenant ID (a GUID): tokens name their tenant by ID", t)
			}
			return nil, nil, fmt.Errorf("authority %s is not a Microsoft Entra sign-in host: list the accepted issuers instead", authority)
		}
		for _, i := range iss {
			if _, dup := tenantOf[i]; !dup {
				issuers = append(issuers, i)
				tenantOf[i] = strings.ToLower(t)
			}
		}
	}
	return issuers, tenantOf, nil
}
