{{/* Chart name, truncated to a DNS label. */}}
{{- define "mlmodel-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of every object of the release; the release name alone when it contains the chart name. */}}
{{- define "mlmodel-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlmodel-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlmodel-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels. Never `app.kubernetes.io/managed-by: mlmodel-operator`: the operator watches
objects carrying that label as its own children.
*/}}
{{- define "mlmodel-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mlmodel-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: mlmodel-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mlmodel-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlmodel-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one image: the operator's, passed on to the inference pods. */}}
{{- define "mlmodel-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* "true" when the operator watches every namespace (ClusterRole), "" otherwise. */}}
{{- define "mlmodel-operator.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
Rules on namespaced resources, each for what the code does (docs/install.md, "Permissions"):
the three kinds are watched and read, and patched only by kopf for its finalizer (the operator
never writes spec); status is merge-patched; children are created and updated by server-side
apply (create + patch), never deleted (garbage collection does), except a NetworkPolicy, which
is deleted when its owner's spec.networkPolicy is turned off; pods are read for status; events
are posted by the operator. `update` on <kind>/finalizers lets the children's owner references
set blockOwnerDeletion where the OwnerReferencesPermissionEnforcement admission plugin runs.
*/}}
{{- define "mlmodel-operator.namespacedRules" -}}
- apiGroups: [mlmodel.dev]
  resources: [modelpackages, mlmodelservices, visionservices]
  verbs: [get, list, watch, patch]
- apiGroups: [mlmodel.dev]
  resources: [modelpackages/status, mlmodelservices/status, visionservices/status]
  verbs: [patch]
- apiGroups: [mlmodel.dev]
  resources: [mlmodelservices/finalizers, visionservices/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch, create, patch, delete]
# A Service led to the activator keeps no stale Endpoints (handlers/wake.py).
- apiGroups: [""]
  resources: [endpoints]
  verbs: [get, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* The activator's own selector: never matched by the operator's Deployment selector. */}}
{{- define "mlmodel-operator.activatorSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-activator" (include "mlmodel-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlmodel-operator.activatorLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mlmodel-operator.activatorSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: activator
app.kubernetes.io/part-of: mlmodel-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
