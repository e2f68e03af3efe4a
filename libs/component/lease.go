package component

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

func metaFor(le LeaderElection) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name}
}
