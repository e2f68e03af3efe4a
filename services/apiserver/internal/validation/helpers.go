package validation

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages Kubernetes uses verbatim; clients and tests match on them.
const (
	isNegativeErrorMsg  = apivalidation.IsNegativeErrorMsg
	isNotIntegerMsg     = "must be an integer"
	fieldImmutableMsg   = apivalidation.FieldImmutableErrorMsg
	notPositiveErrorMsg = "must be greater than zero"
)

// supportedPortProtocols is shared by containers, services and endpoints.
var supportedPortProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

// errs turns the []string messages of apimachinery's Is* helpers into
// Invalid errors at one path.
func errs(fldPath *field.Path, value any, msgs []string) field.ErrorList {
	var all field.ErrorList
	for _, msg := range msgs {
		all = append(all, field.Invalid(fldPath, value, msg))
	}
	return all
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	return errs(fldPath, value, validation.IsDNS1123Label(value))
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return errs(fldPath, value, validation.IsDNS1123Subdomain(value))
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return errs(fldPath, value, validation.IsQualifiedName(value))
}

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, fldPath)
}

func validateNonnegativeQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), isNegativeErrorMsg)}
	}
	return nil
}

func validatePositiveQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), notPositiveErrorMsg)}
	}
	return nil
}

// validateImmutable uses semantic equality so that equal quantities written
// differently ("1" and "1000m") do not count as changes.
func validateImmutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	if !apiequality.Semantic.DeepEqual(oldVal, newVal) {
		return field.ErrorList{field.Invalid(fldPath, newVal, fieldImmutableMsg)}
	}
	return nil
}

// validatePortNumOrName checks an int-or-string port: a number 1-65535 or an
// IANA_SVC_NAME.
func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return errs(fldPath, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return errs(fldPath, port.StrVal, validation.IsValidPortName(port.StrVal))
	default:
		return field.ErrorList{field.InternalError(fldPath, fmt.Errorf("unknown type: %v", port.Type))}
	}
}

func validateProtocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if !slices.Contains(supportedPortProtocols, p) {
		return field.ErrorList{field.NotSupported(fldPath, p, supportedPortProtocols)}
	}
	return nil
}

// validateIP and validateCIDR follow Kubernetes' legacy IP fields with the
// StrictIPCIDRValidation gate on (its default since 1.36): no leading zeros,
// no IPv4-mapped IPv6, but values already stored in old are still accepted.
func validateIP(value string, fldPath *field.Path, validOld []string) field.ErrorList {
	return validation.IsValidIPForLegacyField(fldPath, value, true, validOld)
}

func validateCIDR(value string, fldPath *field.Path, validOld []string) field.ErrorList {
	return validation.IsValidCIDRForLegacyField(fldPath, value, true, validOld)
}

// validateEndpointIP rejects addresses that cannot be a destination: the same
// set Kubernetes refuses for endpoints and external IPs.
func validateEndpointIP(ipAddress string, fldPath *field.Path) field.ErrorList {
	ip := net.ParseIP(ipAddress)
	if ip == nil {
		return field.ErrorList{field.Invalid(fldPath, ipAddress, "must be a valid IP address")}
	}
	var all field.ErrorList
	if ip.IsUnspecified() {
		all = append(all, field.Invalid(fldPath, ipAddress, fmt.Sprintf("may not be unspecified (%v)", ipAddress)))
	}
	if ip.IsLoopback() {
		all = append(all, field.Invalid(fldPath, ipAddress, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		all = append(all, field.Invalid(fldPath, ipAddress, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		all = append(all, field.Invalid(fldPath, ipAddress, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return all
}

func isIPv6String(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}

func isIPv4String(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil
}

// isDualStack reports whether a list of IPs or CIDRs holds exactly one of
// each family.
func isDualStack(values []string, v6 func(string) bool) bool {
	return len(values) == 2 && v6(values[0]) != v6(values[1])
}

func isIPv6CIDR(s string) bool {
	ip, _, err := net.ParseCIDR(s)
	return err == nil && ip.To4() == nil
}

// percent returns the value of "N%" and true; anything else is not a percent.
func percent(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	if err != nil {
		return 0, false
	}
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percent(v); ok {
		return n
	}
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	return 0
}

// validatePositiveIntOrPercent accepts a non-negative integer or "N%".
func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return errs(fldPath, v, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return validateNonnegative(int64(v.IntVal), fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
	}
}

func validateNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if n, ok := percent(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

// notSupported is field.NotSupported with the valid values given as strings,
// saving callers a conversion of typed enums.
func notSupported[T ~string](fldPath *field.Path, value T, valid ...T) *field.Error {
	return field.NotSupported(fldPath, value, valid)
}

// validateEnum requires value to be set and one of valid.
func validateEnum[T ~string](value T, fldPath *field.Path, valid ...T) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if !slices.Contains(valid, value) {
		return field.ErrorList{notSupported(fldPath, value, valid...)}
	}
	return nil
}

// validateLabelSelector checks a selector strictly: label values in match
// expressions must be valid too.
func validateLabelSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fldPath)
}
