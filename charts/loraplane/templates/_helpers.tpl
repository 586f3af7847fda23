{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "loraplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name; a release already named after the chart is not repeated. */}}
{{- define "loraplane.fullname" -}}
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

{{/* What every object of the release carries; its component (operator, trainer) is added apart. */}}
{{- define "loraplane.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "loraplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: loraplane
{{- end }}

{{- define "loraplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loraplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "loraplane.labels" -}}
{{ include "loraplane.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "loraplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "loraplane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "loraplane.leaseName" -}}
{{- default (printf "%s-leader" (include "loraplane.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* repository:tag, the tag defaulting to the chart's appVersion. Call with (list .Values.image .Chart). */}}
{{- define "loraplane.image" -}}
{{- $image := index . 0 }}
{{- printf "%s:%s" $image.repository (default (index . 1).AppVersion $image.tag) }}
{{- end }}

{{/*
What the operator does in a served namespace, and nothing more (test/helm/operator-permissions.ts
names the code behind each verb; the chart test holds the two equal).
*/}}
{{- define "loraplane.operatorRules" -}}
# FineTuneJobs: the informer lists and watches; the reconciler patches status. The trainer Job's
# ownerReference sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement admission
# plugin allows only to whoever may update the owner's finalizers.
- apiGroups: [loraplane.io]
  resources: [finetunejobs]
  verbs: [list, watch]
- apiGroups: [loraplane.io]
  resources: [finetunejobs/status]
  verbs: [patch]
- apiGroups: [loraplane.io]
  resources: [finetunejobs/finalizers]
  verbs: [update]
# LoraAdapters: made from a succeeded FineTuneJob, verified against the artifact in storage, and
# held by a finalizer until the artifact is reclaimed.
- apiGroups: [loraplane.io]
  resources: [loraadapters]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [loraplane.io]
  resources: [loraadapters/status]
  verbs: [update, patch]
- apiGroups: [loraplane.io]
  resources: [loraadapters/finalizers]
  verbs: [update]
# The trainer Jobs it owns: created, suspended or resumed with a patch, never deleted (garbage
# collection follows the ownerReference).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, patch]
# Trainer pods: their status explains a stuck Job; their /metrics give progress.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# The S3 credentials a LoraAdapter or FineTuneJob names (credentialsSecret), read to verify artifacts.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# The trainer ServiceAccount, made where missing (a pod naming a missing one is refused).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create]
# The headless Service of a multi-pod trainer Job (spec.resources.nodes > 1): its pods' DNS names.
- apiGroups: [""]
  resources: [services]
  verbs: [create]
# Kueue's Workloads (when Kueue is installed): read to say in a queued FineTuneJob's status what Kueue
# decided; patched for spec.suspend only (spec.active, Kueue's own switch). Kueue alone admits,
# suspends and unsuspends the trainer Job.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [list, watch, patch]
# Events: recorded on the objects it manages; the Job controller's FailedCreate watched to say why a
# trainer pod cannot be created.
- apiGroups: [""]
  resources: [events]
  verbs: [create, list, watch]
{{- end }}
