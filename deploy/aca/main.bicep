// aifinops on Azure Container Apps: `serve` replicas that share the scheduled jobs through PostgreSQL, gateway
// replicas that share their limits through Redis, one user-assigned managed identity for the Azure sources.
// Deploy into a resource group (the roles module assigns the identity's read roles on the subscription):
//
//   az deployment group create -g rg-aifinops -f deploy/aca/main.bicep \
//     -p image=myregistry.azurecr.io/aifinops:0.1.0 databaseUrl='postgresql://…' redisUrl='rediss://…' \
//        costScopes='["subscriptions/<id>"]' subscriptions='["<id>"]'
//
// Then create the first admin key once: `az containerapp job start -g rg-aifinops -n <name>-admin-key`
// (its log shows the secret); serve refuses to listen beyond loopback until a key exists. Roles: README.md.
targetScope = 'resourceGroup'

@description('Prefix of every resource name.')
@minLength(3)
@maxLength(20)
param name string = 'aifinops'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('The aifinops image (the repository Dockerfile), e.g. myregistry.azurecr.io/aifinops:0.1.0.')
param image string

@description('Registry of the image, pulled with the managed identity (grant it AcrPull); empty for a public image.')
param registryServer string = ''

@description('PostgreSQL URL, e.g. postgresql://aifinops@server.postgres.database.azure.com:5432/aifinops?sslmode=require.')
@secure()
param databaseUrl string

@description('Redis URL for the gateway limits shared by its replicas, e.g. rediss://:key@name.redis.cache.windows.net:6380/0.')
@secure()
param redisUrl string

@description('Cost Management scopes to collect, e.g. ["subscriptions/<id>"].')
param costScopes array = []

@description('Subscriptions whose AI resources the Resource Graph inventory reads.')
param subscriptions array = []

@description('Azure Monitor resource ids whose Azure OpenAI metrics are collected.')
param monitorResources array = []

@description('Log Analytics workspace GUIDs (API Management and Application Insights logs).')
param logWorkspaces array = []

@description('Blob container of the Cost Management exports, e.g. https://account.blob.core.windows.net/exports/aifinops.')
param exportBlobUrl string = ''

@description('The gateway configuration file (YAML: upstreams and deployments, see docs/gateway-limits.md).')
@secure()
param gatewayConfig string

@description('How many serve replicas run (the scheduled jobs run once per turn among them).')
@minValue(1)
param serveReplicas int = 2

@description('How many gateway replicas run at least.')
@minValue(1)
param gatewayReplicas int = 2

@description('Assign the managed identity the read roles it needs on this subscription (README.md).')
param assignRoles bool = true

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id'
  location: location
}

resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: '${name}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${name}-env'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

var identities = { '${identity.id}': {} }
var registries = empty(registryServer) ? [] : [ { server: registryServer, identity: identity.id } ]
var secrets = [
  { name: 'database-url', value: databaseUrl }
  { name: 'redis-url', value: redisUrl }
]
// The Azure sources sign in as the managed identity: the default credential with its client id.
var commonEnv = [
  { name: 'AIFINOPS_DATABASE_URL', secretRef: 'database-url' }
  { name: 'AIFINOPS_REDIS_URL', secretRef: 'redis-url' }
  { name: 'AIFINOPS_AZURE__CREDENTIAL', value: 'default' }
  { name: 'AIFINOPS_AZURE__CLIENT_ID', value: identity.properties.clientId }
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
  { name: 'AIFINOPS_AZURE__COST_SCOPES', value: string(costScopes) }
  { name: 'AIFINOPS_AZURE__SUBSCRIPTIONS', value: string(subscriptions) }
  { name: 'AIFINOPS_AZURE__MONITOR_RESOURCES', value: string(monitorResources) }
  { name: 'AIFINOPS_AZURE__LOGS__WORKSPACES', value: string(logWorkspaces) }
  { name: 'AIFINOPS_AZURE__EXPORT_BLOB_URL', value: exportBlobUrl }
]
var resources = { cpu: json('1.0'), memory: '2Gi' }

resource serve 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${name}-serve'
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: identities }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      ingress: { external: true, targetPort: 8000, transport: 'http' }
      registries: registries
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'serve'
          image: image
          args: [ 'serve' ]
          resources: resources
          // Every replica may migrate at start: upgrades take a PostgreSQL advisory lock.
          env: concat(commonEnv, [ { name: 'AIFINOPS_MIGRATE', value: '1' } ])
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: 8000 }, periodSeconds: 10 }
            { type: 'Readiness', httpGet: { path: '/readyz', port: 8000 }, periodSeconds: 10, failureThreshold: 3 }
            { type: 'Startup', httpGet: { path: '/healthz', port: 8000 }, periodSeconds: 5, failureThreshold: 24 }
          ]
        }
      ]
      scale: { minReplicas: serveReplicas, maxReplicas: serveReplicas }
    }
  }
}

resource gateway 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${name}-gateway'
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: identities }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      ingress: { external: true, targetPort: 8100, transport: 'http' }
      registries: registries
      secrets: concat(secrets, [ { name: 'gateway-config', value: gatewayConfig } ])
    }
    template: {
      containers: [
        {
          name: 'gateway'
          image: image
          args: [ 'gateway' ]
          resources: resources
          env: concat(commonEnv, [ { name: 'AIFINOPS_GATEWAY__CONFIG_FILE', value: '/etc/aifinops/gateway.yaml' } ])
          volumeMounts: [ { volumeName: 'gateway-config', mountPath: '/etc/aifinops' } ]
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: 8100 }, periodSeconds: 10 }
            { type: 'Readiness', httpGet: { path: '/healthz', port: 8100 }, periodSeconds: 5 }
          ]
        }
      ]
      volumes: [
        {
          name: 'gateway-config'
          storageType: 'Secret'
          secrets: [ { secretRef: 'gateway-config', path: 'gateway.yaml' } ]
        }
      ]
      scale: {
        minReplicas: gatewayReplicas
        maxReplicas: gatewayReplicas * 5
        rules: [ { name: 'http', http: { metadata: { concurrentRequests: '200' } } } ]
      }
    }
  }
}

// Run once after the first deployment: prints the first admin key's secret in the job's log.
resource adminKey 'Microsoft.App/jobs@2024-03-01' = {
  name: '${name}-admin-key'
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: identities }
  properties: {
    environmentId: environment.id
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 600
      replicaRetryLimit: 0
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      registries: registries
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'admin-key'
          image: image
          args: [ 'keys', 'create', '--name', 'admin', '--scope', 'admin' ]
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: concat(commonEnv, [ { name: 'AIFINOPS_MIGRATE', value: '1' } ])
        }
      ]
    }
  }
}

module roles 'roles.bicep' = if (assignRoles) {
  name: '${name}-roles'
  scope: subscription()
  params: {
    principalId: identity.properties.principalId
  }
}

output serveUrl string = 'https://${serve.properties.configuration.ingress.fqdn}'
output gatewayUrl string = 'https://${gateway.properties.configuration.ingress.fqdn}'
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
