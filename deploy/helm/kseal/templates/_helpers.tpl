{{/* Name of every object: fullnameOverride, else "<release>-controller". */}}
{{- define "kseal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-controller" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels selecting the controller's pods (stable across upgrades). */}}
{{- define "kseal.selectorLabels" -}}
app.kubernetes.io/name: kseal-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "kseal.labels" -}}
{{ include "kseal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: kseal
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The controller's ServiceAccount. */}}
{{- define "kseal.serviceAccountName" -}}
{{- default (include "kseal.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The controller image: registry/repository, then @digest or :tag (default appVersion). */}}
{{- define "kseal.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the ConfigMap the controller publishes its certificate in (fixed in the controller). */}}
{{- define "kseal.certConfigMap" -}}kseal-cert{{- end -}}
