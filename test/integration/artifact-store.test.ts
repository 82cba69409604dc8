/** The same ArtifactStore contract against a local directory and against the real MinIO server. */
import { LocalDirStore } from '../../artifacts/local-store';
import { MinioStore } from '../../artifacts/minio-store';
import { storeContract } from '../helpers/store-contract';
import { tempDir, testMinio, uniqueBucket } from '../helpers/servers';

storeContract('local dir store', async () => new LocalDirStore(await tempDir('store')));

storeContract('MinIO store', async () => {
  const m = await testMinio();
  return new MinioStore({ ...m, bucket: uniqueBucket('contract'), prefix: 'some/prefix' });
});
