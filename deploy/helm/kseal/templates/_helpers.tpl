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
{{- with .Values.commonLabels }}
{{- range $key, $_ := . }}
{{- if or (hasPrefix "app.kubernetes.io/" $key) (eq $key "helm.sh/chart") }}
{{- fail (printf "commonLabels: %s is one of the chart's own labels (app.kubernetes.io/*, helm.sh/chart); use another key" $key) }}
{{- end }}
{{- end }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of the RBAC objects: those of every object and rbac.labels. */}}
{{- define "kseal.rbacLabels" -}}
{{ include "kseal.labels" . }}
{{- with .Values.rbac.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The `annotations:` of an object's metadata: commonAnnotations, under the object's own (`extra`, which win);
nothing when both are empty. Call: include "kseal.annotations" (dict "ctx" $ "extra" .Values.x.annotations)
*/}}
{{- define "kseal.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .extra)) (deepCopy (default (dict) .ctx.Values.commonAnnotations)) -}}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Namespaces with an unsealer Role under rbac.namespacedRoles: the release namespace (the keys), the
watched one and additionalNamespaces, each once. */}}
{{- define "kseal.unsealedNamespaces" -}}
{{- $all := list .Release.Namespace -}}
{{- with .Values.controller.watchNamespace }}{{ $all = append $all . }}{{ end -}}
{{- range .Values.additionalNamespaces }}{{ $all = append $all . }}{{ end -}}
{{- toJson (uniq $all) -}}
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
