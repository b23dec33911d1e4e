import { runService } from '@metering/service-kit';
import { tenantRegistryService } from './service';

void runService(tenantRegistryService);
