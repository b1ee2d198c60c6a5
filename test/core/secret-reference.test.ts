import t from 'tap';
import { referenceProvider } from '../../src/core/secret-reference.js';

t.test('AWS Secrets Manager references resolve with the aws provider', async (t) => {
  for (const value of [
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf',
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:json-secret',
    'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:api-key',
  ]) {
    t.equal(referenceProvider(value), 'aws', value);
  }
});

t.test('AWS SSM parameters resolve with the aws provider, with or without a version', async (t) => {
  for (const value of [
    'arn:aws:ssm:us-east-1:1:parameter/x',
    'arn:aws:ssm:us-east-1:123456789012:parameter/app/nested/token',
    'arn:aws-cn:ssm:cn-northwest-1:123456789012:parameter/x',
    'arn:aws:ssm:us-east-1:123456789012:parameter/x:12',
    'arn:aws-cn:ssm:cn-north-1:123456789012:parameter/app/token:3',
  ]) {
    t.equal(referenceProvider(value), 'aws', value);
  }
});

t.test('Google Secret Manager references resolve with the google provider', async (t) => {
  for (const value of [
    'gcp:secretmanager:projects/p/secrets/s',
    'gcp:secretmanager:projects/p/secrets/s/versions/latest',
    'gcp:secretmanager:projects/1234567/secrets/token/versions/3',
    'gcp:secretmanager:bare-name',
  ]) {
    t.equal(referenceProvider(value), 'google', value);
  }
});

t.test('values that are not references', async (t) => {
  const cases: Array<[string, string]> = [
    ['arn:aws:ssm:us-east-1:1:document/x', 'SSM ARN without :parameter/'],
    ['arn:aws:ssm:us-east-1:123456789012:maintenancewindow/mw-1', 'SSM ARN without :parameter/'],
    ['x arn:aws:secretsmanager:us-east-1:1:secret:s', 'reference only later in the text'],
    [' arn:aws:secretsmanager:us-east-1:1:secret:s', 'leading space'],
    ['prefix-gcp:secretmanager:projects/p/secrets/s', 'reference only later in the text'],
    ['see gcp:secretmanager:projects/p/secrets/s', 'reference only later in the text'],
    ['value with :parameter/ arn:aws:ssm:', 'ssm prefix and :parameter/ but not at the start'],
    ['arn:aws:s3:::bucket', 'S3 ARN'],
    ['arn:aws:iam::123456789012:role/app', 'IAM ARN'],
    ['arn:aws-us-gov:secretsmanager:us-gov-west-1:1:secret:s', 'partition the runtime does not detect'],
    ['', 'empty string'],
    ['ARN:AWS:SECRETSMANAGER:us-east-1:1:secret:s', 'upper case'],
    ['ARN:AWS:ssm:us-east-1:1:parameter/x', 'upper case'],
    ['GCP:SECRETMANAGER:projects/p/secrets/s', 'upper case'],
    ['gcp:secretsmanager:projects/p/secrets/s', 'AWS spelling on the Google prefix'],
    ['arn:aws:secretsmanager', 'prefix without its final colon'],
    ['plain value', 'plain text'],
  ];
  for (const [value, why] of cases) {
    t.equal(referenceProvider(value), undefined, `${JSON.stringify(value)}: ${why}`);
  }
});
