import { runService } from '@metering/service-kit';
import { auditService } from './service';

void runService(auditService);
