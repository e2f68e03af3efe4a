package integration

import "k8s.io/apimachinery/pkg/util/intstr"

func intstrFromString(s string) intstr.IntOrString { return intstr.FromString(s) }
